//! A fake `librknnrt.so` for edgeflow's tests: the C symbols of `rknn_api.h` that the
//! `rknn` backend calls, declared here on their own (not shared with the backend, so a layout
//! mistake on either side shows), with deterministic outputs and strict checks of what it is
//! given. No NPU, no vendor code.
//!
//! A model is a text file `EDGEFLOW-FAKE-RKNN <width> <height>`. Its input is
//! `images` [1, h, w, 3] NHWC (int8 in the model, fed as uint8 by the caller); its output
//! `output0` is [1, 2, 6] int8 with zero point -16 and scale 0.25, YOLO rows
//! `cx, cy, w, h, objectness, class 0`: row 0 is the box around the pixels that differ from
//! the top-left one (objectness 1, or 0 when there are none), row 1 holds the mean of the
//! input's bytes / 16 in `cx` and nothing else.
#![allow(unsafe_code, clippy::missing_safety_doc)]

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::Mutex;

const MAGIC: &str = "EDGEFLOW-FAKE-RKNN";
const ZP: i32 = -16;
const SCALE: f32 = 0.25;
const ROWS: usize = 2;
const COLS: usize = 6;

const ERR_FAIL: c_int = -1;
const ERR_PARAM_INVALID: c_int = -5;
const ERR_MODEL_INVALID: c_int = -6;
const ERR_CTX_INVALID: c_int = -7;
const ERR_INPUT_INVALID: c_int = -8;

#[repr(C)]
pub struct TensorAttr {
    index: u32,
    n_dims: u32,
    dims: [u32; 16],
    name: [c_char; 256],
    n_elems: u32,
    size: u32,
    fmt: u32,
    type_: u32,
    qnt_type: u32,
    fl: i8,
    zp: i32,
    scale: f32,
    w_stride: u32,
    size_with_stride: u32,
    pass_through: u8,
    h_stride: u32,
}

#[repr(C)]
pub struct Input {
    index: u32,
    buf: *mut c_void,
    size: u32,
    pass_through: u8,
    type_: u32,
    fmt: u32,
}

#[repr(C)]
pub struct Output {
    want_float: u8,
    is_prealloc: u8,
    index: u32,
    buf: *mut c_void,
    size: u32,
}

#[repr(C)]
pub struct TensorMem {
    virt_addr: *mut c_void,
    phys_addr: u64,
    fd: i32,
    offset: i32,
    size: u32,
    flags: u32,
    priv_data: *mut c_void,
}

struct Ctx {
    width: u32,
    height: u32,
    input: Option<Vec<u8>>,
    output: Option<[f32; ROWS * COLS]>,
    core_mask: u32,
    /// Bound memories: (input, outputs as f32).
    io_in: Option<usize>,
    io_out: Option<usize>,
}

static CONTEXTS: Mutex<Option<HashMap<u64, Ctx>>> = Mutex::new(None);
static NEXT: Mutex<u64> = Mutex::new(1);

fn with_ctx<R>(ctx: u64, f: impl FnOnce(&mut Ctx) -> Result<R, c_int>) -> Result<R, c_int> {
    let mut all = CONTEXTS.lock().unwrap_or_else(|e| e.into_inner());
    let c = all
        .get_or_insert_with(HashMap::new)
        .get_mut(&ctx)
        .ok_or(ERR_CTX_INVALID)?;
    f(c)
}

fn code(r: Result<(), c_int>) -> c_int {
    r.err().unwrap_or(0)
}

fn parse(model: &[u8]) -> Option<(u32, u32)> {
    let text = std::str::from_utf8(model).ok()?;
    let mut words = text.split_whitespace();
    (words.next()? == MAGIC).then_some(())?;
    let w = words.next()?.parse().ok()?;
    let h = words.next()?.parse().ok()?;
    (w > 0 && h > 0 && w <= 4096 && h <= 4096).then_some((w, h))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn rknn_init(
    context: *mut u64,
    model: *mut c_void,
    size: u32,
    flag: u32,
    extend: *mut c_void,
) -> c_int {
    if context.is_null() || model.is_null() || size == 0 || flag != 0 || !extend.is_null() {
        return ERR_PARAM_INVALID;
    }
    // SAFETY: the caller passes `size` bytes of model.
    let bytes = unsafe { std::slice::from_raw_parts(model.cast::<u8>(), size as usize) };
    let Some((width, height)) = parse(bytes) else {
        return ERR_MODEL_INVALID;
    };
    let id = {
        let mut n = NEXT.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n
    };
    CONTEXTS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(
            id,
            Ctx {
                width,
                height,
                input: None,
                output: None,
                core_mask: 0,
                io_in: None,
                io_out: None,
            },
        );
    // SAFETY: checked non-null.
    unsafe { *context = id };
    0
}

#[unsafe(no_mangle)]
pub extern "C" fn rknn_destroy(context: u64) -> c_int {
    let mut all = CONTEXTS.lock().unwrap_or_else(|e| e.into_inner());
    match all.get_or_insert_with(HashMap::new).remove(&context) {
        Some(_) => 0,
        None => ERR_CTX_INVALID,
    }
}

fn set_name(attr: &mut TensorAttr, name: &str) {
    attr.name = [0; 256];
    for (d, s) in attr.name.iter_mut().zip(name.bytes()) {
        *d = s as c_char;
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn rknn_query(context: u64, cmd: u32, info: *mut c_void, size: u32) -> c_int {
    if info.is_null() {
        return ERR_PARAM_INVALID;
    }
    code(with_ctx(context, |c| {
        match cmd {
            0 => {
                if size != 8 {
                    return Err(ERR_PARAM_INVALID);
                }
                // SAFETY: an rknn_input_output_num of the size checked.
                unsafe { std::ptr::write(info.cast::<[u32; 2]>(), [1, 1]) };
            }
            1 | 2 => {
                if size as usize != std::mem::size_of::<TensorAttr>() {
                    return Err(ERR_PARAM_INVALID);
                }
                // SAFETY: an rknn_tensor_attr of the size checked.
                let attr = unsafe { &mut *info.cast::<TensorAttr>() };
                if attr.index != 0 {
                    return Err(ERR_PARAM_INVALID);
                }
                attr.qnt_type = 2;
                attr.zp = ZP;
                attr.scale = SCALE;
                attr.type_ = 2; // int8
                if cmd == 1 {
                    set_name(attr, "images");
                    attr.n_dims = 4;
                    attr.dims[..4].copy_from_slice(&[1, c.height, c.width, 3]);
                    attr.n_elems = c.height * c.width * 3;
                    attr.size = attr.n_elems;
                    attr.fmt = 1; // NHWC
                    // Rows padded to a multiple of 16 pixels, as the NPU lays them out.
                    attr.w_stride = c.width.div_ceil(16) * 16;
                    attr.size_with_stride = attr.w_stride * c.height * 3;
                } else {
                    set_name(attr, "output0");
                    attr.n_dims = 3;
                    attr.dims[..3].copy_from_slice(&[1, ROWS as u32, COLS as u32]);
                    attr.n_elems = (ROWS * COLS) as u32;
                    attr.size = attr.n_elems;
                    attr.fmt = 3; // undefined
                    attr.w_stride = 0;
                    attr.size_with_stride = attr.size;
                }
            }
            5 => {
                if size != 512 {
                    return Err(ERR_PARAM_INVALID);
                }
                let mut v = [0u8; 512];
                v[..17].copy_from_slice(b"2.3.2 (edgeflow)\0");
                v[256..266].copy_from_slice(b"fake 0.9\0\0");
                // SAFETY: an rknn_sdk_version of the size checked.
                unsafe { std::ptr::write(info.cast::<[u8; 512]>(), v) };
            }
            _ => return Err(ERR_PARAM_INVALID),
        }
        Ok(())
    }))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn rknn_inputs_set(context: u64, n: u32, inputs: *mut Input) -> c_int {
    if n != 1 || inputs.is_null() {
        return ERR_PARAM_INVALID;
    }
    // SAFETY: one rknn_input.
    let input = unsafe { &*inputs };
    code(with_ctx(context, |c| {
        let want = (c.width * c.height * 3) as usize;
        if input.index != 0
            || input.type_ != 3
            || input.fmt != 1
            || input.pass_through != 0
            || input.size as usize != want
            || input.buf.is_null()
        {
            return Err(ERR_INPUT_INVALID);
        }
        // SAFETY: `size` bytes at `buf`, checked non-null.
        let bytes = unsafe { std::slice::from_raw_parts(input.buf.cast::<u8>(), want) };
        c.input = Some(bytes.to_vec());
        Ok(())
    }))
}

/// The outputs' real values for an input of `w` × `h` RGB bytes.
fn infer(w: usize, h: usize, px: &[u8]) -> [f32; ROWS * COLS] {
    let mut out = [0.0f32; ROWS * COLS];
    let bg = [px[0], px[1], px[2]];
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..h {
        for x in 0..w {
            let p = &px[(y * w + x) * 3..(y * w + x) * 3 + 3];
            if p.iter().zip(bg).any(|(a, b)| a.abs_diff(b) > 30) {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            }
        }
    }
    if x0 != usize::MAX {
        out[0] = (x0 + x1) as f32 / 2.0;
        out[1] = (y0 + y1) as f32 / 2.0;
        out[2] = (x1 - x0) as f32;
        out[3] = (y1 - y0) as f32;
        out[4] = 1.0;
        out[5] = 1.0;
    }
    let mean = px.iter().map(|b| f32::from(*b)).sum::<f32>() / px.len() as f32;
    out[COLS] = (mean / 16.0 / SCALE).round() * SCALE;
    out
}

fn quantize(v: f32) -> i8 {
    ((v / SCALE).round() as i32 + ZP).clamp(-128, 127) as i8
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn rknn_run(context: u64, extend: *mut c_void) -> c_int {
    if !extend.is_null() {
        return ERR_PARAM_INVALID;
    }
    code(with_ctx(context, |c| {
        let (w, h) = (c.width as usize, c.height as usize);
        let px = match c.io_in {
            Some(addr) => {
                // The bound memory: rows of `stride` pixels; read the first `w` of each.
                let stride = c.width.div_ceil(16) as usize * 16;
                // SAFETY: the memory from rknn_create_mem bound as input, stride × h × 3 bytes.
                let mem = unsafe { &*(addr as *const TensorMem) };
                let all = unsafe {
                    std::slice::from_raw_parts(mem.virt_addr.cast::<u8>(), stride * h * 3)
                };
                (0..h)
                    .flat_map(|y| all[y * stride * 3..y * stride * 3 + w * 3].iter().copied())
                    .collect()
            }
            None => c.input.take().ok_or(ERR_INPUT_INVALID)?,
        };
        let out = infer(w, h, &px);
        if let Some(addr) = c.io_out {
            // SAFETY: the output memory bound as f32, ROWS × COLS of them.
            let mem = unsafe { &*(addr as *const TensorMem) };
            let dst =
                unsafe { std::slice::from_raw_parts_mut(mem.virt_addr.cast::<f32>(), ROWS * COLS) };
            dst.copy_from_slice(&out);
        }
        c.output = Some(out);
        Ok(())
    }))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn rknn_outputs_get(
    context: u64,
    n: u32,
    outputs: *mut Output,
    extend: *mut c_void,
) -> c_int {
    if n != 1 || outputs.is_null() || !extend.is_null() {
        return ERR_PARAM_INVALID;
    }
    // SAFETY: one rknn_output.
    let o = unsafe { &mut *outputs };
    code(with_ctx(context, |c| {
        let out = c.output.take().ok_or(ERR_FAIL)?;
        if o.index != 0 || o.is_prealloc != 1 || o.buf.is_null() {
            return Err(ERR_PARAM_INVALID);
        }
        if o.want_float == 1 {
            if o.size as usize != ROWS * COLS * 4 {
                return Err(ERR_PARAM_INVALID);
            }
            // SAFETY: `size` bytes of the caller's, checked.
            let dst = unsafe { std::slice::from_raw_parts_mut(o.buf.cast::<f32>(), ROWS * COLS) };
            dst.copy_from_slice(&out);
        } else {
            if o.size as usize != ROWS * COLS {
                return Err(ERR_PARAM_INVALID);
            }
            // SAFETY: as above.
            let dst = unsafe { std::slice::from_raw_parts_mut(o.buf.cast::<i8>(), ROWS * COLS) };
            for (d, v) in dst.iter_mut().zip(out) {
                *d = quantize(v);
            }
        }
        Ok(())
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn rknn_outputs_release(context: u64, n: u32, outputs: *mut Output) -> c_int {
    if n != 1 || outputs.is_null() {
        return ERR_PARAM_INVALID;
    }
    code(with_ctx(context, |_| Ok(())))
}

#[unsafe(no_mangle)]
pub extern "C" fn rknn_set_core_mask(context: u64, mask: u32) -> c_int {
    code(with_ctx(context, |c| {
        // The fake is an RK3588: three cores.
        if ![0, 1, 2, 4, 3, 7, 0xffff].contains(&mask) {
            return Err(ERR_PARAM_INVALID);
        }
        c.core_mask = mask;
        Ok(())
    }))
}

#[unsafe(no_mangle)]
pub extern "C" fn rknn_create_mem(context: u64, size: u32) -> *mut TensorMem {
    if with_ctx(context, |_| Ok(())).is_err() || size == 0 {
        return std::ptr::null_mut();
    }
    let buf = vec![0u8; size as usize].into_boxed_slice();
    let virt = Box::into_raw(buf).cast::<c_void>();
    Box::into_raw(Box::new(TensorMem {
        virt_addr: virt,
        phys_addr: 0,
        fd: -1,
        offset: 0,
        size,
        flags: 1,
        priv_data: std::ptr::null_mut(),
    }))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn rknn_destroy_mem(context: u64, mem: *mut TensorMem) -> c_int {
    if mem.is_null() {
        return ERR_PARAM_INVALID;
    }
    let _ = with_ctx(context, |c| {
        if c.io_in == Some(mem as usize) {
            c.io_in = None;
        }
        if c.io_out == Some(mem as usize) {
            c.io_out = None;
        }
        Ok(())
    });
    // SAFETY: a memory from rknn_create_mem, freed once.
    unsafe {
        let m = Box::from_raw(mem);
        let slice = std::ptr::slice_from_raw_parts_mut(m.virt_addr.cast::<u8>(), m.size as usize);
        drop(Box::from_raw(slice));
    }
    0
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn rknn_set_io_mem(
    context: u64,
    mem: *mut TensorMem,
    attr: *mut TensorAttr,
) -> c_int {
    if mem.is_null() || attr.is_null() {
        return ERR_PARAM_INVALID;
    }
    // SAFETY: both from the caller, checked non-null.
    let (m, a) = unsafe { (&*mem, &*attr) };
    let name: Vec<u8> = a
        .name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    code(with_ctx(context, |c| {
        match name.as_slice() {
            b"images" => {
                let stride = c.width.div_ceil(16) * 16;
                if a.type_ != 3 || a.fmt != 1 || m.size < stride * c.height * 3 {
                    return Err(ERR_PARAM_INVALID);
                }
                c.io_in = Some(mem as usize);
            }
            b"output0" => {
                if a.type_ != 0 || (m.size as usize) < ROWS * COLS * 4 {
                    return Err(ERR_PARAM_INVALID);
                }
                c.io_out = Some(mem as usize);
            }
            _ => return Err(ERR_PARAM_INVALID),
        }
        Ok(())
    }))
}

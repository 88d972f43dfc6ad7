//! A fake `libhailort.so` for edgeflow's tests: the C symbols of `hailort.h` that the `hailo`
//! backend calls, declared here on their own (not shared with the backend, so a layout
//! mistake on either side shows), with deterministic outputs and strict checks. No device,
//! no vendor code.
//!
//! A HEF is a text file `EDGEFLOW-FAKE-HEF <width> <height> nms <classes> <max per class>` or
//! `EDGEFLOW-FAKE-HEF <width> <height> raw`. Its input `in` takes `height × width × 3` bytes.
//! The `nms` output is HailoRT's NMS-by-class buffer: class 0 holds the box around the pixels
//! that differ from the top-left one (score 0.9), class 1 (if any) the whole frame at 0.4.
//! The `raw` output is 1 × 2 × 3 u8 with zero point 128 and scale 1/128: byte 0 is the mean
//! of the input's bytes, byte i the value 128 + 10 i.
//!
//! Environment: `EDGEFLOW_FAKE_HAILO_DEVICES=0` makes it find no device;
//! `EDGEFLOW_FAKE_HAILO_VERSION=4.19.0` makes it an old release (the 432-byte vstream info
//! and order 9 for NMS).
#![allow(unsafe_code, clippy::missing_safety_doc)]

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_void};
use std::sync::Mutex;

type Status = u32;
const SUCCESS: Status = 0;
const INVALID_ARGUMENT: Status = 2;
const TIMEOUT: Status = 4;
const INSUFFICIENT_BUFFER: Status = 5;
const INVALID_OPERATION: Status = 6;
const NOT_FOUND: Status = 61;
const OUT_OF_PHYSICAL_DEVICES: Status = 74;
const HEF_FILE_CORRUPTED: Status = 91;

const MAGIC: &str = "EDGEFLOW-FAKE-HEF";

#[repr(C)]
pub struct Version {
    major: u32,
    minor: u32,
    revision: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Format {
    type_: u32,
    order: u32,
    flags: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct VstreamParams {
    user_buffer_format: Format,
    timeout_ms: u32,
    queue_size: u32,
    vstream_stats_flags: u32,
    pipeline_elements_stats_flags: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct ParamsByName {
    name: [c_char; 128],
    params: VstreamParams,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Nms(u32, u32),
    Raw,
}

#[derive(Clone, Copy)]
struct Hef {
    w: u32,
    h: u32,
    mode: Mode,
}

enum Object {
    Vdevice,
    Hef(Hef),
    Group(Hef),
    Input {
        group: usize,
        frame: Option<Vec<u8>>,
    },
    Output {
        group: usize,
        ty: u32,
    },
}

struct State {
    next: usize,
    objects: HashMap<usize, Object>,
    /// The last frame written per network group.
    frames: HashMap<usize, Vec<u8>>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let mut s = STATE.lock().unwrap_or_else(|e| e.into_inner());
    f(s.get_or_insert_with(|| State {
        next: 0x1000,
        objects: HashMap::new(),
        frames: HashMap::new(),
    }))
}

fn add(o: Object) -> *mut c_void {
    with(|s| {
        s.next += 16;
        s.objects.insert(s.next, o);
        s.next as *mut c_void
    })
}

fn old() -> bool {
    std::env::var("EDGEFLOW_FAKE_HAILO_VERSION").is_ok_and(|v| v.starts_with("4.19"))
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_get_library_version(v: *mut Version) -> Status {
    if v.is_null() {
        return INVALID_ARGUMENT;
    }
    let minor = if old() { 19 } else { 23 };
    // SAFETY: checked non-null.
    unsafe {
        *v = Version {
            major: 4,
            minor,
            revision: 0,
        }
    };
    SUCCESS
}

#[unsafe(no_mangle)]
pub extern "C" fn hailo_get_status_message(status: Status) -> *const c_char {
    let s: &'static CStr = match status {
        0 => c"HAILO_SUCCESS",
        2 => c"HAILO_INVALID_ARGUMENT",
        4 => c"HAILO_TIMEOUT",
        5 => c"HAILO_INSUFFICIENT_BUFFER",
        6 => c"HAILO_INVALID_OPERATION",
        61 => c"HAILO_NOT_FOUND",
        74 => c"HAILO_OUT_OF_PHYSICAL_DEVICES",
        91 => c"HAILO_HEF_FILE_CORRUPTED",
        _ => return std::ptr::null(),
    };
    s.as_ptr()
}

fn devices() -> usize {
    match std::env::var("EDGEFLOW_FAKE_HAILO_DEVICES") {
        Ok(v) => v.parse().unwrap_or(1),
        Err(_) => 1,
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_scan_devices(
    params: *mut c_void,
    ids: *mut [c_char; 32],
    len: *mut usize,
) -> Status {
    if !params.is_null() || ids.is_null() || len.is_null() {
        return INVALID_ARGUMENT;
    }
    let n = devices();
    // SAFETY: checked non-null; `*len` ids of room.
    unsafe {
        if *len < n {
            *len = n;
            return INSUFFICIENT_BUFFER;
        }
        for i in 0..n {
            let mut id = [0 as c_char; 32];
            for (d, s) in id.iter_mut().zip(format!("0000:0{}:00.0", i + 1).bytes()) {
                *d = s as c_char;
            }
            *ids.add(i) = id;
        }
        *len = n;
    }
    SUCCESS
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_create_vdevice(
    params: *mut c_void,
    out: *mut *mut c_void,
) -> Status {
    if !params.is_null() || out.is_null() {
        // The fake only takes the defaults.
        return INVALID_ARGUMENT;
    }
    if devices() == 0 {
        return OUT_OF_PHYSICAL_DEVICES;
    }
    // SAFETY: checked non-null.
    unsafe { *out = add(Object::Vdevice) };
    SUCCESS
}

fn release(h: *mut c_void) -> Status {
    with(|s| match s.objects.remove(&(h as usize)) {
        Some(_) => SUCCESS,
        None => INVALID_ARGUMENT,
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn hailo_release_vdevice(h: *mut c_void) -> Status {
    release(h)
}

#[unsafe(no_mangle)]
pub extern "C" fn hailo_release_hef(h: *mut c_void) -> Status {
    release(h)
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_create_hef_file(
    out: *mut *mut c_void,
    name: *const c_char,
) -> Status {
    if out.is_null() || name.is_null() {
        return INVALID_ARGUMENT;
    }
    // SAFETY: a NUL-terminated path.
    let path = unsafe { CStr::from_ptr(name) }
        .to_string_lossy()
        .into_owned();
    let Ok(text) = std::fs::read_to_string(&path) else {
        return NOT_FOUND;
    };
    let words: Vec<&str> = text.split_whitespace().collect();
    let num = |i: usize| words.get(i).and_then(|w| w.parse::<u32>().ok());
    let hef = match (words.first(), num(1), num(2), words.get(3)) {
        (Some(&MAGIC), Some(w), Some(h), Some(&"nms")) if w > 0 && h > 0 => {
            match (num(4), num(5)) {
                (Some(c), Some(m)) if c > 0 && m > 0 => Hef {
                    w,
                    h,
                    mode: Mode::Nms(c, m),
                },
                _ => return HEF_FILE_CORRUPTED,
            }
        }
        (Some(&MAGIC), Some(w), Some(h), Some(&"raw")) if w > 0 && h > 0 => Hef {
            w,
            h,
            mode: Mode::Raw,
        },
        _ => return HEF_FILE_CORRUPTED,
    };
    // SAFETY: checked non-null.
    unsafe { *out = add(Object::Hef(hef)) };
    SUCCESS
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_configure_vdevice(
    vdevice: *mut c_void,
    hef: *mut c_void,
    params: *mut c_void,
    groups: *mut *mut c_void,
    count: *mut usize,
) -> Status {
    if groups.is_null() || count.is_null() || !params.is_null() {
        return INVALID_ARGUMENT;
    }
    let hef = with(|s| {
        let device = matches!(s.objects.get(&(vdevice as usize)), Some(Object::Vdevice));
        match s.objects.get(&(hef as usize)) {
            Some(Object::Hef(h)) if device => Some(*h),
            _ => None,
        }
    });
    let Some(hef) = hef else {
        return INVALID_ARGUMENT;
    };
    // SAFETY: checked non-null.
    unsafe {
        if *count < 1 {
            *count = 1;
            return INSUFFICIENT_BUFFER;
        }
        *groups = add(Object::Group(hef));
        *count = 1;
    }
    SUCCESS
}

fn group(h: *mut c_void) -> Option<Hef> {
    with(|s| match s.objects.get(&(h as usize)) {
        Some(Object::Group(g)) => Some(*g),
        _ => None,
    })
}

fn params(name: &str, ty: u32) -> ParamsByName {
    let mut p = ParamsByName {
        name: [0; 128],
        params: VstreamParams {
            user_buffer_format: Format {
                type_: ty,
                order: 0,
                flags: 0,
            },
            timeout_ms: 10_000,
            queue_size: 2,
            vstream_stats_flags: 0,
            pipeline_elements_stats_flags: 0,
        },
    };
    for (d, s) in p.name.iter_mut().zip(name.bytes()) {
        *d = s as c_char;
    }
    p
}

unsafe fn make(
    g: *mut c_void,
    ty: u32,
    out: *mut ParamsByName,
    count: *mut usize,
    name: &str,
) -> Status {
    if group(g).is_none() || out.is_null() || count.is_null() {
        return INVALID_ARGUMENT;
    }
    // SAFETY: checked non-null; `*count` of room.
    unsafe {
        if *count < 1 {
            *count = 1;
            return INSUFFICIENT_BUFFER;
        }
        *out = params(name, ty);
        *count = 1;
    }
    SUCCESS
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_make_input_vstream_params(
    g: *mut c_void,
    _unused: bool,
    ty: u32,
    out: *mut ParamsByName,
    count: *mut usize,
) -> Status {
    // SAFETY: the caller's buffers.
    unsafe { make(g, ty, out, count, "in") }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_make_output_vstream_params(
    g: *mut c_void,
    _unused: bool,
    ty: u32,
    out: *mut ParamsByName,
    count: *mut usize,
) -> Status {
    let Some(hef) = group(g) else {
        return INVALID_ARGUMENT;
    };
    let name = if hef.mode == Mode::Raw { "raw" } else { "nms" };
    // SAFETY: the caller's buffers.
    unsafe { make(g, ty, out, count, name) }
}

fn name_of(p: &ParamsByName) -> String {
    let b: Vec<u8> = p
        .name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&b).into_owned()
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_create_input_vstreams(
    g: *mut c_void,
    p: *const ParamsByName,
    n: usize,
    out: *mut *mut c_void,
) -> Status {
    if group(g).is_none() || p.is_null() || out.is_null() || n != 1 {
        return INVALID_ARGUMENT;
    }
    // SAFETY: one params, one handle.
    let p = unsafe { &*p };
    // The backend sends RGB bytes.
    if name_of(p) != "in" || p.params.user_buffer_format.type_ != 1 || p.params.timeout_ms == 0 {
        return INVALID_ARGUMENT;
    }
    // SAFETY: as above.
    unsafe {
        *out = add(Object::Input {
            group: g as usize,
            frame: None,
        })
    };
    SUCCESS
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_create_output_vstreams(
    g: *mut c_void,
    p: *const ParamsByName,
    n: usize,
    out: *mut *mut c_void,
) -> Status {
    let Some(hef) = group(g) else {
        return INVALID_ARGUMENT;
    };
    if p.is_null() || out.is_null() || n != 1 {
        return INVALID_ARGUMENT;
    }
    // SAFETY: one params, one handle.
    let p = unsafe { &*p };
    let mut ty = p.params.user_buffer_format.type_;
    if ty == 0 {
        // AUTO: float32 for NMS, the HEF's u8 for raw outputs.
        ty = if hef.mode == Mode::Raw { 1 } else { 3 };
    }
    if matches!(hef.mode, Mode::Nms(..)) && ty != 3 {
        return INVALID_ARGUMENT;
    }
    // SAFETY: as above.
    unsafe {
        *out = add(Object::Output {
            group: g as usize,
            ty,
        })
    };
    SUCCESS
}

unsafe fn release_all(h: *const *mut c_void, n: usize) -> Status {
    if h.is_null() {
        return INVALID_ARGUMENT;
    }
    for i in 0..n {
        // SAFETY: `n` handles.
        let s = release(unsafe { *h.add(i) });
        if s != SUCCESS {
            return s;
        }
    }
    SUCCESS
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_release_input_vstreams(h: *const *mut c_void, n: usize) -> Status {
    // SAFETY: the caller's handles.
    unsafe { release_all(h, n) }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_release_output_vstreams(h: *const *mut c_void, n: usize) -> Status {
    // SAFETY: the caller's handles.
    unsafe { release_all(h, n) }
}

/// (HEF, the stream's group, output type) of a vstream handle.
fn stream(h: *mut c_void) -> Option<(Hef, usize, Option<u32>)> {
    with(|s| {
        let (g, ty) = match s.objects.get(&(h as usize))? {
            Object::Input { group, .. } => (*group, None),
            Object::Output { group, ty } => (*group, Some(*ty)),
            _ => return None,
        };
        match s.objects.get(&g)? {
            Object::Group(hef) => Some((*hef, g, ty)),
            _ => None,
        }
    })
}

unsafe fn write_info(
    info: *mut u8,
    name: &str,
    shape: [u32; 4],
    format: [u32; 3],
    quant: [f32; 2],
) {
    let (size, quant_at) = if old() { (432, 416) } else { (436, 420) };
    // SAFETY: the caller's hailo_vstream_info_t of this version's size.
    let b = unsafe { std::slice::from_raw_parts_mut(info, size) };
    b.fill(0);
    b[..name.len()].copy_from_slice(name.as_bytes());
    b[128..128 + 5].copy_from_slice(b"fake\0");
    let put = |b: &mut [u8], at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    put(b, 388, u32::from(name != "in"));
    for (i, f) in format.iter().enumerate() {
        put(b, 392 + 4 * i, *f);
    }
    let words = if old() { 3 } else { 4 };
    for (i, s) in shape.iter().take(words).enumerate() {
        put(b, 404 + 4 * i, *s);
    }
    put(b, quant_at, quant[0].to_bits());
    put(b, quant_at + 4, quant[1].to_bits());
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_get_input_vstream_info(h: *mut c_void, info: *mut u8) -> Status {
    let Some((hef, _, None)) = stream(h) else {
        return INVALID_ARGUMENT;
    };
    if info.is_null() {
        return INVALID_ARGUMENT;
    }
    // SAFETY: the caller's info.
    unsafe { write_info(info, "in", [hef.h, hef.w, 3, 0], [1, 1, 0], [0.0, 1.0]) };
    SUCCESS
}

fn nms_order() -> u32 {
    if old() { 9 } else { 22 }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_get_output_vstream_info(h: *mut c_void, info: *mut u8) -> Status {
    let Some((hef, _, Some(ty))) = stream(h) else {
        return INVALID_ARGUMENT;
    };
    if info.is_null() {
        return INVALID_ARGUMENT;
    }
    // SAFETY: the caller's info.
    unsafe {
        match hef.mode {
            Mode::Nms(c, m) => write_info(
                info,
                "nms",
                [c, m, c * m, 0],
                [ty, nms_order(), 0],
                [0.0, 1.0],
            ),
            Mode::Raw => write_info(info, "raw", [1, 2, 3, 0], [1, 1, 0], [128.0, 1.0 / 128.0]),
        }
    };
    SUCCESS
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_get_output_vstream_user_format(
    h: *mut c_void,
    f: *mut Format,
) -> Status {
    let Some((hef, _, Some(ty))) = stream(h) else {
        return INVALID_ARGUMENT;
    };
    if f.is_null() {
        return INVALID_ARGUMENT;
    }
    let order = if hef.mode == Mode::Raw {
        1
    } else {
        nms_order()
    };
    // SAFETY: checked non-null.
    unsafe {
        *f = Format {
            type_: ty,
            order,
            flags: 0,
        }
    };
    SUCCESS
}

fn output_bytes(hef: Hef, ty: u32) -> usize {
    match hef.mode {
        Mode::Nms(c, m) => (c * (1 + 5 * m) * 4) as usize,
        Mode::Raw => 6 * if ty == 3 { 4 } else { 1 },
    }
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_get_input_vstream_frame_size(
    h: *mut c_void,
    size: *mut usize,
) -> Status {
    let Some((hef, _, None)) = stream(h) else {
        return INVALID_ARGUMENT;
    };
    if size.is_null() {
        return INVALID_ARGUMENT;
    }
    // SAFETY: checked non-null.
    unsafe { *size = (hef.w * hef.h * 3) as usize };
    SUCCESS
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_get_output_vstream_frame_size(
    h: *mut c_void,
    size: *mut usize,
) -> Status {
    let Some((hef, _, Some(ty))) = stream(h) else {
        return INVALID_ARGUMENT;
    };
    if size.is_null() {
        return INVALID_ARGUMENT;
    }
    // SAFETY: checked non-null.
    unsafe { *size = output_bytes(hef, ty) };
    SUCCESS
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_vstream_write_raw_buffer(
    h: *mut c_void,
    buf: *const c_void,
    size: usize,
) -> Status {
    let Some((hef, g, None)) = stream(h) else {
        return INVALID_ARGUMENT;
    };
    if buf.is_null() || size != (hef.w * hef.h * 3) as usize {
        return INVALID_ARGUMENT;
    }
    // SAFETY: `size` bytes of the caller's.
    let frame = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), size) }.to_vec();
    with(|s| {
        if let Some(Object::Input { frame: f, .. }) = s.objects.get_mut(&(h as usize)) {
            *f = Some(frame.clone());
        }
        s.frames.insert(g, frame);
    });
    SUCCESS
}

/// The box (normalized y_min, x_min, y_max, x_max) around the pixels unlike the top-left one.
fn foreground(w: usize, h: usize, px: &[u8]) -> Option<[f32; 4]> {
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
    (x0 != usize::MAX).then(|| {
        [
            y0 as f32 / h as f32,
            x0 as f32 / w as f32,
            y1 as f32 / h as f32,
            x1 as f32 / w as f32,
        ]
    })
}

#[unsafe(no_mangle)]
pub unsafe extern "C" fn hailo_vstream_read_raw_buffer(
    h: *mut c_void,
    buf: *mut c_void,
    size: usize,
) -> Status {
    let Some((hef, g, Some(ty))) = stream(h) else {
        return INVALID_ARGUMENT;
    };
    if buf.is_null() || size != output_bytes(hef, ty) {
        return INVALID_ARGUMENT;
    }
    // Each output reads the last frame once.
    let Some(px) = with(|s| s.frames.remove(&g)) else {
        return TIMEOUT;
    };
    let (w, hh) = (hef.w as usize, hef.h as usize);
    // SAFETY: `size` bytes of the caller's.
    let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), size) };
    match hef.mode {
        Mode::Nms(classes, _) => {
            let mut floats: Vec<f32> = Vec::new();
            match foreground(w, hh, &px) {
                Some(b) => floats.extend([1.0, b[0], b[1], b[2], b[3], 0.9]),
                None => floats.push(0.0),
            }
            if classes > 1 {
                floats.extend([1.0, 0.0, 0.0, 1.0, 1.0, 0.4]);
            }
            floats.extend(std::iter::repeat_n(0.0, classes.saturating_sub(2) as usize));
            out.fill(0);
            for (d, f) in out.chunks_exact_mut(4).zip(floats) {
                d.copy_from_slice(&f.to_ne_bytes());
            }
        }
        Mode::Raw => {
            let mean = (px.iter().map(|b| u32::from(*b)).sum::<u32>() / px.len() as u32) as u8;
            let bytes: Vec<u8> = (0..6u8)
                .map(|i| if i == 0 { mean } else { 128 + 10 * i })
                .collect();
            if ty == 3 {
                for (d, q) in out.chunks_exact_mut(4).zip(bytes) {
                    d.copy_from_slice(&((f32::from(q) - 128.0) / 128.0).to_ne_bytes());
                }
            } else {
                out.copy_from_slice(&bytes);
            }
        }
    }
    SUCCESS
}

/// Activation is refused, as HailoRT refuses it on a vdevice with its scheduler.
#[unsafe(no_mangle)]
pub extern "C" fn hailo_activate_network_group(
    _g: *mut c_void,
    _p: *mut c_void,
    _out: *mut *mut c_void,
) -> Status {
    INVALID_OPERATION
}

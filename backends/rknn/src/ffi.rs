//! The part of Rockchip's `rknn_api.h` (RKNN SDK 2.x, `librknnrt.so`) this backend calls,
//! written from the header and the RKNN runtime API reference. Layouts are `#[repr(C)]` with
//! the header's field types; sizes and offsets are asserted in the tests against the values
//! gcc gives for the header (x86-64 and aarch64 agree). Enum fields are plain `u32`s, so a
//! value a newer runtime adds is never undefined behaviour.

use std::ffi::{c_char, c_int, c_void};

/// `rknn_context`: an integer handle (`uint64_t` on 64-bit targets, `uint32_t` on 32-bit ARM).
#[cfg(target_arch = "arm")]
pub type RknnContext = u32;
/// `rknn_context`: an integer handle (`uint64_t` on 64-bit targets, `uint32_t` on 32-bit ARM).
#[cfg(not(target_arch = "arm"))]
pub type RknnContext = u64;

/// `RKNN_SUCC`.
pub const RKNN_SUCC: c_int = 0;
/// `RKNN_MAX_DIMS`.
pub const RKNN_MAX_DIMS: usize = 16;
/// `RKNN_MAX_NAME_LEN`.
pub const RKNN_MAX_NAME_LEN: usize = 256;

/// `RKNN_QUERY_IN_OUT_NUM`: [`InputOutputNum`].
pub const RKNN_QUERY_IN_OUT_NUM: u32 = 0;
/// `RKNN_QUERY_INPUT_ATTR`: [`TensorAttr`] of an input.
pub const RKNN_QUERY_INPUT_ATTR: u32 = 1;
/// `RKNN_QUERY_OUTPUT_ATTR`: [`TensorAttr`] of an output.
pub const RKNN_QUERY_OUTPUT_ATTR: u32 = 2;
/// `RKNN_QUERY_SDK_VERSION`: [`SdkVersion`].
pub const RKNN_QUERY_SDK_VERSION: u32 = 5;

/// `RKNN_TENSOR_FLOAT32`.
pub const RKNN_TENSOR_FLOAT32: u32 = 0;
/// `RKNN_TENSOR_FLOAT16`.
pub const RKNN_TENSOR_FLOAT16: u32 = 1;
/// `RKNN_TENSOR_INT8`.
pub const RKNN_TENSOR_INT8: u32 = 2;
/// `RKNN_TENSOR_UINT8`.
pub const RKNN_TENSOR_UINT8: u32 = 3;

/// `RKNN_TENSOR_NCHW`.
pub const RKNN_TENSOR_NCHW: u32 = 0;
/// `RKNN_TENSOR_NHWC`.
pub const RKNN_TENSOR_NHWC: u32 = 1;

/// `RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC`: `real = (q - zp) * scale`.
pub const RKNN_TENSOR_QNT_AFFINE_ASYMMETRIC: u32 = 2;

/// `RKNN_NPU_CORE_AUTO`.
pub const RKNN_NPU_CORE_AUTO: u32 = 0;
/// `RKNN_NPU_CORE_ALL` (SDK 2.x): every core the platform has.
pub const RKNN_NPU_CORE_ALL: u32 = 0xffff;

/// `rknn_input_output_num`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct InputOutputNum {
    /// `n_input`.
    pub n_input: u32,
    /// `n_output`.
    pub n_output: u32,
}

/// `rknn_tensor_attr` (376 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TensorAttr {
    /// `index`: set before the query.
    pub index: u32,
    /// `n_dims`.
    pub n_dims: u32,
    /// `dims`.
    pub dims: [u32; RKNN_MAX_DIMS],
    /// `name`, NUL-terminated.
    pub name: [c_char; RKNN_MAX_NAME_LEN],
    /// `n_elems`.
    pub n_elems: u32,
    /// `size`: bytes.
    pub size: u32,
    /// `fmt` (`rknn_tensor_format`).
    pub fmt: u32,
    /// `type` (`rknn_tensor_type`).
    pub type_: u32,
    /// `qnt_type` (`rknn_tensor_qnt_type`).
    pub qnt_type: u32,
    /// `fl`: fractional length (DFP quantization).
    pub fl: i8,
    /// `zp`: zero point (affine quantization).
    pub zp: i32,
    /// `scale` (affine quantization).
    pub scale: f32,
    /// `w_stride`: elements per row of the input buffer (0: the width).
    pub w_stride: u32,
    /// `size_with_stride`: bytes with the row stride.
    pub size_with_stride: u32,
    /// `pass_through`.
    pub pass_through: u8,
    /// `h_stride`.
    pub h_stride: u32,
}

impl Default for TensorAttr {
    fn default() -> Self {
        TensorAttr {
            index: 0,
            n_dims: 0,
            dims: [0; RKNN_MAX_DIMS],
            name: [0; RKNN_MAX_NAME_LEN],
            n_elems: 0,
            size: 0,
            fmt: 0,
            type_: 0,
            qnt_type: 0,
            fl: 0,
            zp: 0,
            scale: 0.0,
            w_stride: 0,
            size_with_stride: 0,
            pass_through: 0,
            h_stride: 0,
        }
    }
}

impl TensorAttr {
    /// The name, up to its NUL.
    pub fn name(&self) -> String {
        let bytes: Vec<u8> = self
            .name
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The dimensions in use.
    pub fn dims(&self) -> &[u32] {
        let n = (self.n_dims as usize).min(RKNN_MAX_DIMS);
        &self.dims[..n]
    }
}

/// `rknn_sdk_version`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SdkVersion {
    /// `api_version`, NUL-terminated.
    pub api_version: [c_char; 256],
    /// `drv_version`, NUL-terminated.
    pub drv_version: [c_char; 256],
}

/// `rknn_input`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Input {
    /// `index`.
    pub index: u32,
    /// `buf`.
    pub buf: *mut c_void,
    /// `size`: bytes.
    pub size: u32,
    /// `pass_through`: 0 lets the runtime convert `type`/`fmt` into the model's input.
    pub pass_through: u8,
    /// `type` of the buffer.
    pub type_: u32,
    /// `fmt` of the buffer.
    pub fmt: u32,
}

/// `rknn_output`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// `want_float`: 1 has the runtime dequantize to f32.
    pub want_float: u8,
    /// `is_prealloc`: 1 when `buf` is the caller's.
    pub is_prealloc: u8,
    /// `index`.
    pub index: u32,
    /// `buf`.
    pub buf: *mut c_void,
    /// `size`: bytes.
    pub size: u32,
}

/// `rknn_tensor_mem`: memory the NPU reads or writes directly (zero copy).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TensorMem {
    /// `virt_addr`.
    pub virt_addr: *mut c_void,
    /// `phys_addr`.
    pub phys_addr: u64,
    /// `fd`.
    pub fd: i32,
    /// `offset`.
    pub offset: i32,
    /// `size`: bytes.
    pub size: u32,
    /// `flags`.
    pub flags: u32,
    /// `priv_data`.
    pub priv_data: *mut c_void,
}

/// `rknn_init(context, model, size, flag, extend)`: `size > 0` means `model` points at the
/// model's bytes.
pub type InitFn =
    unsafe extern "C" fn(*mut RknnContext, *mut c_void, u32, u32, *mut c_void) -> c_int;
/// `rknn_destroy(context)`.
pub type DestroyFn = unsafe extern "C" fn(RknnContext) -> c_int;
/// `rknn_query(context, cmd, info, size)`.
pub type QueryFn = unsafe extern "C" fn(RknnContext, u32, *mut c_void, u32) -> c_int;
/// `rknn_inputs_set(context, n, inputs)`.
pub type InputsSetFn = unsafe extern "C" fn(RknnContext, u32, *mut Input) -> c_int;
/// `rknn_run(context, extend)`.
pub type RunFn = unsafe extern "C" fn(RknnContext, *mut c_void) -> c_int;
/// `rknn_outputs_get(context, n, outputs, extend)`.
pub type OutputsGetFn = unsafe extern "C" fn(RknnContext, u32, *mut Output, *mut c_void) -> c_int;
/// `rknn_outputs_release(context, n, outputs)`.
pub type OutputsReleaseFn = unsafe extern "C" fn(RknnContext, u32, *mut Output) -> c_int;
/// `rknn_set_core_mask(context, mask)`.
pub type SetCoreMaskFn = unsafe extern "C" fn(RknnContext, u32) -> c_int;
/// `rknn_create_mem(context, size)`.
pub type CreateMemFn = unsafe extern "C" fn(RknnContext, u32) -> *mut TensorMem;
/// `rknn_destroy_mem(context, mem)`.
pub type DestroyMemFn = unsafe extern "C" fn(RknnContext, *mut TensorMem) -> c_int;
/// `rknn_set_io_mem(context, mem, attr)`.
pub type SetIoMemFn = unsafe extern "C" fn(RknnContext, *mut TensorMem, *mut TensorAttr) -> c_int;

/// What an RKNN error code means (`RKNN_ERR_*`).
pub fn error_name(code: c_int) -> &'static str {
    match code {
        -1 => "RKNN_ERR_FAIL",
        -2 => "RKNN_ERR_TIMEOUT",
        -3 => "RKNN_ERR_DEVICE_UNAVAILABLE (no NPU, or its driver is not loaded)",
        -4 => "RKNN_ERR_MALLOC_FAIL",
        -5 => "RKNN_ERR_PARAM_INVALID",
        -6 => "RKNN_ERR_MODEL_INVALID (not an .rknn model, or a damaged one)",
        -7 => "RKNN_ERR_CTX_INVALID",
        -8 => "RKNN_ERR_INPUT_INVALID",
        -9 => "RKNN_ERR_OUTPUT_INVALID",
        -10 => "RKNN_ERR_DEVICE_UNMATCH (update the RKNN runtime and the NPU driver)",
        -11 => "RKNN_ERR_INCOMPATILE_PRE_COMPILE_MODEL",
        -12 => "RKNN_ERR_INCOMPATILE_OPTIMIZATION_LEVEL_VERSION",
        -13 => "RKNN_ERR_TARGET_PLATFORM_UNMATCH (the model was converted for another chip)",
        _ => "an unknown RKNN error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    /// The layouts gcc 12 gives for rknn_api.h of RKNN SDK 2.3.2 on x86-64 and aarch64
    /// (identical on both): a small C program printing `sizeof`/`offsetof` of each struct.
    #[test]
    fn layouts_match_the_header() {
        assert_eq!(size_of::<RknnContext>(), 8);
        assert_eq!(size_of::<InputOutputNum>(), 8);
        assert_eq!(
            (size_of::<TensorAttr>(), align_of::<TensorAttr>()),
            (376, 4)
        );
        assert_eq!(offset_of!(TensorAttr, dims), 8);
        assert_eq!(offset_of!(TensorAttr, name), 72);
        assert_eq!(offset_of!(TensorAttr, n_elems), 328);
        assert_eq!(offset_of!(TensorAttr, size), 332);
        assert_eq!(offset_of!(TensorAttr, fmt), 336);
        assert_eq!(offset_of!(TensorAttr, type_), 340);
        assert_eq!(offset_of!(TensorAttr, qnt_type), 344);
        assert_eq!(offset_of!(TensorAttr, fl), 348);
        assert_eq!(offset_of!(TensorAttr, zp), 352);
        assert_eq!(offset_of!(TensorAttr, scale), 356);
        assert_eq!(offset_of!(TensorAttr, w_stride), 360);
        assert_eq!(offset_of!(TensorAttr, size_with_stride), 364);
        assert_eq!(offset_of!(TensorAttr, pass_through), 368);
        assert_eq!(offset_of!(TensorAttr, h_stride), 372);
        assert_eq!(size_of::<SdkVersion>(), 512);
        assert_eq!(size_of::<Input>(), 32);
        assert_eq!(
            (
                offset_of!(Input, buf),
                offset_of!(Input, size),
                offset_of!(Input, pass_through),
                offset_of!(Input, type_),
                offset_of!(Input, fmt)
            ),
            (8, 16, 20, 24, 28)
        );
        assert_eq!(size_of::<Output>(), 24);
        assert_eq!(
            (
                offset_of!(Output, is_prealloc),
                offset_of!(Output, index),
                offset_of!(Output, buf),
                offset_of!(Output, size)
            ),
            (1, 4, 8, 16)
        );
        assert_eq!(size_of::<TensorMem>(), 40);
        assert_eq!(
            (
                offset_of!(TensorMem, fd),
                offset_of!(TensorMem, size),
                offset_of!(TensorMem, priv_data)
            ),
            (16, 24, 32)
        );
    }
}

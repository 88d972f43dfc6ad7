//! The part of HailoRT's `hailort.h` (4.x, Hailo-8) this backend calls, written from the
//! header and its documentation. Handles are opaque pointers; enums are plain `u32`s (the
//! header sizes them as `int` with `*_MAX_ENUM = INT_MAX`), so a value a newer library adds
//! is never undefined behaviour. `hailo_vstream_info_t` changed size in 4.20 (the NMS shape
//! gained `max_bboxes_total`), so it is read by offsets chosen from the library's version
//! ([`VstreamInfoLayout`]); sizes are asserted in the tests against what gcc gives for the
//! 4.19 and 4.23 headers (x86-64 and aarch64 agree).

use std::ffi::{c_char, c_void};

/// `hailo_status`.
pub type Status = u32;
/// `HAILO_SUCCESS`.
pub const HAILO_SUCCESS: Status = 0;
/// `HAILO_TIMEOUT`.
pub const HAILO_TIMEOUT: Status = 4;
/// `HAILO_INSUFFICIENT_BUFFER`.
pub const HAILO_INSUFFICIENT_BUFFER: Status = 5;
/// `HAILO_OUT_OF_PHYSICAL_DEVICES`: no (free) Hailo device, or no driver.
pub const HAILO_OUT_OF_PHYSICAL_DEVICES: Status = 74;

/// `HAILO_FORMAT_TYPE_AUTO`.
pub const FORMAT_TYPE_AUTO: u32 = 0;
/// `HAILO_FORMAT_TYPE_UINT8`.
pub const FORMAT_TYPE_UINT8: u32 = 1;
/// `HAILO_FORMAT_TYPE_UINT16`.
pub const FORMAT_TYPE_UINT16: u32 = 2;
/// `HAILO_FORMAT_TYPE_FLOAT32`.
pub const FORMAT_TYPE_FLOAT32: u32 = 3;

/// `HAILO_FORMAT_ORDER_NHWC`.
pub const FORMAT_ORDER_NHWC: u32 = 1;
/// `HAILO_FORMAT_ORDER_HAILO_NMS` (4.19 and older; by class, like 22).
pub const FORMAT_ORDER_HAILO_NMS: u32 = 9;
/// `HAILO_FORMAT_ORDER_HAILO_NMS_BY_CLASS` (4.20 and later).
pub const FORMAT_ORDER_HAILO_NMS_BY_CLASS: u32 = 22;

/// `HAILO_MAX_STREAM_NAME_SIZE`.
pub const MAX_STREAM_NAME_SIZE: usize = 128;
/// `HAILO_MAX_DEVICE_ID_LENGTH`.
pub const MAX_DEVICE_ID_LENGTH: usize = 32;

/// Opaque handle (`hailo_vdevice`, `hailo_hef`, vstreams, network groups).
pub type Handle = *mut c_void;

/// `hailo_version_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Version {
    /// `major`.
    pub major: u32,
    /// `minor`.
    pub minor: u32,
    /// `revision`.
    pub revision: u32,
}

/// `hailo_format_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Format {
    /// `type` (`hailo_format_type_t`).
    pub type_: u32,
    /// `order` (`hailo_format_order_t`).
    pub order: u32,
    /// `flags` (`hailo_format_flags_t`).
    pub flags: u32,
}

/// `hailo_vstream_params_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VstreamParams {
    /// `user_buffer_format`.
    pub user_buffer_format: Format,
    /// `timeout_ms`.
    pub timeout_ms: u32,
    /// `queue_size`.
    pub queue_size: u32,
    /// `vstream_stats_flags`.
    pub vstream_stats_flags: u32,
    /// `pipeline_elements_stats_flags`.
    pub pipeline_elements_stats_flags: u32,
}

/// `hailo_input_vstream_params_by_name_t` and `hailo_output_vstream_params_by_name_t` (the
/// same layout).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct VstreamParamsByName {
    /// `name`.
    pub name: [c_char; MAX_STREAM_NAME_SIZE],
    /// `params`.
    pub params: VstreamParams,
}

impl Default for VstreamParamsByName {
    fn default() -> Self {
        VstreamParamsByName {
            name: [0; MAX_STREAM_NAME_SIZE],
            params: VstreamParams::default(),
        }
    }
}

/// `hailo_device_id_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct DeviceId {
    /// `id`: the PCIe address (BDF), NUL-terminated.
    pub id: [c_char; MAX_DEVICE_ID_LENGTH],
}

/// Where the fields of `hailo_vstream_info_t` sit, by library version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VstreamInfoLayout {
    /// `sizeof(hailo_vstream_info_t)`.
    pub size: usize,
    /// Offset of `quant_info`.
    pub quant_info: usize,
}

/// Offset of `direction` (after `name[128]` and `network_name[257]`, padded to 4).
pub const INFO_DIRECTION: usize = 388;
/// Offset of `format`.
pub const INFO_FORMAT: usize = 392;
/// Offset of the shape / NMS shape union.
pub const INFO_SHAPE: usize = 404;

impl VstreamInfoLayout {
    /// HailoRT 4.20 and later (and 5.x): a 16-byte NMS shape.
    pub const V4_20: VstreamInfoLayout = VstreamInfoLayout {
        size: 436,
        quant_info: 420,
    };
    /// HailoRT 4.19 and older: a 12-byte NMS shape.
    pub const V4_19: VstreamInfoLayout = VstreamInfoLayout {
        size: 432,
        quant_info: 416,
    };

    /// The layout of library `v`.
    pub fn of(v: Version) -> VstreamInfoLayout {
        if v.major == 4 && v.minor < 20 {
            VstreamInfoLayout::V4_19
        } else {
            VstreamInfoLayout::V4_20
        }
    }
}

/// A `hailo_vstream_info_t` read out of its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct VstreamInfo {
    /// `name`.
    pub name: String,
    /// `format`.
    pub format: Format,
    /// `shape` (height, width, features) or `nms_shape` (classes, max per class, max total
    /// or 0 before 4.20): the union's first three words.
    pub shape: [u32; 3],
    /// `quant_info`: (zero point, scale).
    pub quant: (f32, f32),
}

impl VstreamInfo {
    /// Read from `bytes` (at least `layout.size` of them) written by the library.
    pub fn parse(bytes: &[u8], layout: VstreamInfoLayout) -> Option<VstreamInfo> {
        let word = |at: usize| -> Option<u32> {
            bytes
                .get(at..at + 4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        let name_bytes = bytes.get(..MAX_STREAM_NAME_SIZE)?;
        let end = name_bytes
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(name_bytes.len());
        Some(VstreamInfo {
            name: String::from_utf8_lossy(&name_bytes[..end]).into_owned(),
            format: Format {
                type_: word(INFO_FORMAT)?,
                order: word(INFO_FORMAT + 4)?,
                flags: word(INFO_FORMAT + 8)?,
            },
            shape: [
                word(INFO_SHAPE)?,
                word(INFO_SHAPE + 4)?,
                word(INFO_SHAPE + 8)?,
            ],
            quant: (
                f32::from_bits(word(layout.quant_info)?),
                f32::from_bits(word(layout.quant_info + 4)?),
            ),
        })
    }

    /// Whether the output is NMS by class (`HAILO_NMS`, `HAILO_NMS_BY_CLASS`).
    pub fn is_nms(&self) -> bool {
        matches!(
            self.format.order,
            FORMAT_ORDER_HAILO_NMS | FORMAT_ORDER_HAILO_NMS_BY_CLASS
        )
    }
}

/// `hailo_get_library_version(version)`.
pub type GetLibraryVersionFn = unsafe extern "C" fn(*mut Version) -> Status;
/// `hailo_get_status_message(status)`.
pub type GetStatusMessageFn = unsafe extern "C" fn(Status) -> *const c_char;
/// `hailo_scan_devices(params, device_ids, device_ids_length)` (params must be NULL).
pub type ScanDevicesFn = unsafe extern "C" fn(*mut c_void, *mut DeviceId, *mut usize) -> Status;
/// `hailo_create_vdevice(params, vdevice)` (params NULL: the defaults, with the scheduler).
pub type CreateVdeviceFn = unsafe extern "C" fn(*mut c_void, *mut Handle) -> Status;
/// `hailo_release_vdevice(vdevice)`.
pub type ReleaseFn = unsafe extern "C" fn(Handle) -> Status;
/// `hailo_create_hef_file(hef, file_name)`.
pub type CreateHefFileFn = unsafe extern "C" fn(*mut Handle, *const c_char) -> Status;
/// `hailo_configure_vdevice(vdevice, hef, params, network_groups, count)` (params NULL: the
/// defaults).
pub type ConfigureVdeviceFn =
    unsafe extern "C" fn(Handle, Handle, *mut c_void, *mut Handle, *mut usize) -> Status;
/// `hailo_make_input_vstream_params` / `hailo_make_output_vstream_params(network_group,
/// unused, format_type, params, count)`.
pub type MakeVstreamParamsFn =
    unsafe extern "C" fn(Handle, bool, u32, *mut VstreamParamsByName, *mut usize) -> Status;
/// `hailo_create_input_vstreams` / `hailo_create_output_vstreams(network_group, params,
/// count, vstreams)`.
pub type CreateVstreamsFn =
    unsafe extern "C" fn(Handle, *const VstreamParamsByName, usize, *mut Handle) -> Status;
/// `hailo_release_input_vstreams` / `hailo_release_output_vstreams(vstreams, count)`.
pub type ReleaseVstreamsFn = unsafe extern "C" fn(*const Handle, usize) -> Status;
/// `hailo_get_input_vstream_info` / `hailo_get_output_vstream_info(vstream, info)`.
pub type GetVstreamInfoFn = unsafe extern "C" fn(Handle, *mut c_void) -> Status;
/// `hailo_get_output_vstream_user_format(vstream, format)`.
pub type GetUserFormatFn = unsafe extern "C" fn(Handle, *mut Format) -> Status;
/// `hailo_get_input_vstream_frame_size` / `hailo_get_output_vstream_frame_size(vstream,
/// size)`.
pub type FrameSizeFn = unsafe extern "C" fn(Handle, *mut usize) -> Status;
/// `hailo_vstream_write_raw_buffer(vstream, buffer, size)`.
pub type WriteFn = unsafe extern "C" fn(Handle, *const c_void, usize) -> Status;
/// `hailo_vstream_read_raw_buffer(vstream, buffer, size)`.
pub type ReadFn = unsafe extern "C" fn(Handle, *mut c_void, usize) -> Status;

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// The sizes gcc 12 gives for hailort.h 4.23.0 (4.19.0 where noted), x86-64 and aarch64.
    #[test]
    fn layouts_match_the_header() {
        assert_eq!(size_of::<Version>(), 12);
        assert_eq!(size_of::<Format>(), 12);
        assert_eq!(size_of::<VstreamParams>(), 28);
        assert_eq!(size_of::<VstreamParamsByName>(), 156);
        assert_eq!(offset_of!(VstreamParamsByName, params), 128);
        assert_eq!(offset_of!(VstreamParams, timeout_ms), 12);
        assert_eq!(size_of::<DeviceId>(), 32);
        assert_eq!(
            VstreamInfoLayout::of(Version {
                major: 4,
                minor: 23,
                revision: 0
            })
            .size,
            436
        );
        assert_eq!(
            VstreamInfoLayout::of(Version {
                major: 4,
                minor: 19,
                revision: 0
            })
            .quant_info,
            416
        );
        assert_eq!(
            VstreamInfoLayout::of(Version {
                major: 5,
                minor: 2,
                revision: 0
            })
            .quant_info,
            420
        );
    }
}

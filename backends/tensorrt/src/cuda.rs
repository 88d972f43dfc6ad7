//! What the engine cache key needs from the machine, read through the vendors' C entry
//! points at run time (no CUDA or TensorRT at build time): the GPU's name and compute
//! capability from the CUDA driver (`libcuda.so.1`: `cuInit`, `cuDeviceGetCount`,
//! `cuDeviceGet`, `cuDeviceGetName`, `cuDeviceGetAttribute`), and TensorRT's version from
//! `libnvinfer` (`getInferLibVersion`).

use std::ffi::{c_char, c_int};

/// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR`.
const CC_MAJOR: c_int = 75;
/// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR`.
const CC_MINOR: c_int = 76;

type CuInit = unsafe extern "C" fn(u32) -> c_int;
type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
type CuDeviceGetAttribute = unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int;
type GetInferLibVersion = unsafe extern "C" fn() -> i32;

/// The GPU `ordinal` as `name smXY` (`NVIDIA H200 sm90`), or why there is none.
pub fn gpu(ordinal: u32) -> Result<String, String> {
    // SAFETY: the CUDA driver's library; its initialisers are the vendor's.
    let lib = unsafe { libloading::Library::new("libcuda.so.1") }
        .map_err(|e| format!("no NVIDIA driver (libcuda.so.1: {e})"))?;
    macro_rules! sym {
        ($t:ty, $name:literal) => {
            // SAFETY: the CUDA driver API's signature of the symbol.
            *unsafe { lib.get::<$t>(concat!($name, "\0").as_bytes()) }
                .map_err(|e| format!("libcuda.so.1 has no {}: {e}", $name))?
        };
    }
    let init = sym!(CuInit, "cuInit");
    let count = sym!(CuDeviceGetCount, "cuDeviceGetCount");
    let get = sym!(CuDeviceGet, "cuDeviceGet");
    let name = sym!(CuDeviceGetName, "cuDeviceGetName");
    let attr = sym!(CuDeviceGetAttribute, "cuDeviceGetAttribute");
    // SAFETY: plain driver calls with out-parameters of the documented types.
    unsafe {
        let code = init(0);
        if code != 0 {
            return Err(format!("cuInit failed ({code}): no usable NVIDIA GPU"));
        }
        let mut n = 0;
        count(&mut n);
        if ordinal as c_int >= n {
            return Err(format!("no GPU {ordinal}: this machine has {n}"));
        }
        let mut dev = 0;
        if get(&mut dev, ordinal as c_int) != 0 {
            return Err(format!("cuDeviceGet({ordinal}) failed"));
        }
        let mut buf = [0 as c_char; 256];
        name(buf.as_mut_ptr(), buf.len() as c_int, dev);
        let text: Vec<u8> = buf
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        let (mut major, mut minor) = (0, 0);
        attr(&mut major, CC_MAJOR, dev);
        attr(&mut minor, CC_MINOR, dev);
        Ok(format!(
            "{} sm{major}{minor}",
            String::from_utf8_lossy(&text)
        ))
    }
}

/// TensorRT's version (`10.3.0`), from the first `libnvinfer` that loads.
pub fn tensorrt_version() -> Result<String, String> {
    let mut tried = Vec::new();
    for name in ["libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"] {
        // SAFETY: TensorRT's library; its initialisers are the vendor's.
        match unsafe { libloading::Library::new(name) } {
            Ok(lib) => {
                // SAFETY: `int32_t getInferLibVersion()` of NvInferRuntime.h (extern "C").
                let f = unsafe { lib.get::<GetInferLibVersion>(b"getInferLibVersion\0") }
                    .map_err(|e| format!("{name}: {e}"))?;
                // SAFETY: no arguments.
                return Ok(decode_version(unsafe { f() }));
            }
            Err(e) => tried.push(format!("{name}: {e}")),
        }
    }
    Err(format!("no TensorRT library ({})", tried.join("; ")))
}

/// `getInferLibVersion`'s number as `major.minor.patch`: TensorRT 10 counts
/// `major·10000 + minor·100 + patch`, TensorRT 8 `major·1000 + minor·100 + patch`.
pub fn decode_version(v: i32) -> String {
    if v >= 100_000 {
        format!("{}.{}.{}", v / 10_000, (v / 100) % 100, v % 100)
    } else {
        format!("{}.{}.{}", v / 1000, (v / 100) % 10, v % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensorrt_versions_decode_for_8_and_10() {
        assert_eq!(decode_version(8602), "8.6.2");
        assert_eq!(decode_version(100300), "10.3.0");
        assert_eq!(decode_version(101100), "10.11.0");
    }
}

//! HailoRT 4.19 and older lay out `hailo_vstream_info_t` 4 bytes shorter and number the NMS
//! order 9: the backend reads both (the fake plays 4.19 in this process only).

use edgeflow_backend::conformance::filled_as;
use edgeflow_backend::{Backend, TensorRole};
use edgeflow_backend_hailo::{HailoBackend, HailoOptions};

#[test]
fn a_4_19_library_is_read_with_its_own_layout() {
    // SAFETY: set before any other thread of this one-test process reads the environment.
    unsafe { std::env::set_var("EDGEFLOW_FAKE_HAILO_VERSION", "4.19.0") };
    let lib = edgeflow_backend::fake::library(
        env!("CARGO_MANIFEST_DIR"),
        "edgeflow-fake-hailort",
        "EDGEFLOW_FAKE_HAILORT",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nms = dir.path().join("m.hef");
    std::fs::write(&nms, "EDGEFLOW-FAKE-HEF 20 10 nms 2 5").unwrap();
    let options = HailoOptions {
        library: Some(lib.clone()),
        ..HailoOptions::default()
    };
    let mut b = HailoBackend::load(&nms, &options).unwrap();
    assert_eq!(b.outputs()[0].role, TensorRole::Detections);
    let v = b.run(&[filled_as(&b.inputs()[0], 90.0)]).unwrap()[0]
        .to_f32()
        .into_owned();
    assert_eq!(&v[..6], &[0.0, 0.0, 20.0, 10.0, 0.4, 1.0]);
    let raw = dir.path().join("r.hef");
    std::fs::write(&raw, "EDGEFLOW-FAKE-HEF 20 10 raw").unwrap();
    let r = HailoBackend::load(&raw, &options).unwrap();
    // The quantization sits 4 bytes earlier in 4.19's struct.
    assert_eq!(r.outputs()[0].quantization.map(|q| q.zero_point), Some(128));
    assert!(
        edgeflow_backend_hailo::probe(Some(&lib))
            .unwrap()
            .contains("HailoRT 4.19.0")
    );
}

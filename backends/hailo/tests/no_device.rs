//! A machine with HailoRT but no Hailo device: the probe and the load both say so, naming
//! the library and what to check (the fake finds no device in this process only).

use edgeflow_backend::BackendError;
use edgeflow_backend_hailo::{HailoBackend, HailoOptions};

#[test]
fn no_device_is_a_clear_error() {
    // SAFETY: set before any other thread of this one-test process reads the environment.
    unsafe { std::env::set_var("EDGEFLOW_FAKE_HAILO_DEVICES", "0") };
    let lib = edgeflow_backend::fake::library(
        env!("CARGO_MANIFEST_DIR"),
        "edgeflow-fake-hailort",
        "EDGEFLOW_FAKE_HAILORT",
    )
    .unwrap();
    let why = edgeflow_backend_hailo::probe(Some(&lib)).unwrap_err();
    assert!(why.contains("finds no Hailo device"), "{why}");
    assert!(why.contains("hailo_pci"), "{why}");
    let dir = tempfile::tempdir().unwrap();
    let hef = dir.path().join("m.hef");
    std::fs::write(&hef, "EDGEFLOW-FAKE-HEF 20 10 raw").unwrap();
    let options = HailoOptions {
        library: Some(lib),
        ..HailoOptions::default()
    };
    let Err(BackendError::Runtime { message, help }) = HailoBackend::load(&hef, &options) else {
        panic!("loaded without a device")
    };
    assert!(
        message.contains("HAILO_OUT_OF_PHYSICAL_DEVICES"),
        "{message}"
    );
    assert!(help.contains("hailortcli scan"), "{help}");
}

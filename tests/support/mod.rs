//! Shared by the broker and endpoint tests: free ports and test certificates.
#![allow(dead_code)] // each test binary uses its own part

pub mod postgres;
pub mod served;
pub mod tansu;

use std::path::Path;
use std::process::{Command, Output};

/// Run the `edgeflow` binary in the project folder, without colours or `RUST_LOG`.
pub fn edgeflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run edgeflow")
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Certificates made with the openssl CLI, all EC P-256 PEM files in `dir` (readable by all,
/// for a broker that drops privileges): `ca.pem`/`ca.key`; `server.pem`/`.key` for IP
/// 127.0.0.1; `client.pem`/`.key` (client auth); `other.pem`/`.key`, self-signed, trusted by
/// nobody; `v1client.pem`/`.key`, an X.509 v1 certificate.
pub fn make_certs(dir: &Path) {
    let sh = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (scripts/setup.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    sh(&[
        &["req", "-x509"],
        &ec[..],
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=edgeflow test CA",
        ],
    ]
    .concat());
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    // `other`: self-signed, from a CA nobody trusts; `v1client`: no extensions, an X.509 v1
    // certificate (what `openssl x509 -req` makes without `-extfile`).
    for (name, signer, ext) in [
        ("server", "ca", Some("server.ext")),
        ("client", "ca", Some("client.ext")),
        ("other", "self", Some("server.ext")),
        ("v1client", "ca", None),
    ] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let pem = format!("{name}.pem");
        sh(&[
            &["req"],
            &ec[..],
            &[
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
        ]
        .concat());
        let mut args = vec!["x509", "-req", "-in", &csr, "-out", &pem, "-days", "2"];
        if signer == "self" {
            args.extend(["-key", &key]);
        } else {
            args.extend(["-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial"]);
        }
        if let Some(ext) = ext {
            args.extend(["-extfile", ext]);
        }
        sh(&args);
    }
    use std::os::unix::fs::PermissionsExt;
    for f in std::fs::read_dir(dir).unwrap() {
        let f = f.unwrap().path();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// `edgeflow run <p>` to its end: whether it succeeded, and its stderr.
pub fn run(p: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(["run", p.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `edgeflow validate [--deep] <p>`: its exit code, and its stdout then stderr.
pub fn validate(p: &Path, deep: bool) -> (Option<i32>, String) {
    let mut args = vec!["validate"];
    if deep {
        args.push("--deep");
    }
    args.push(p.to_str().unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_edgeflow"))
        .args(&args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

//! # edgeflow-stages
//!
//! The stage types of edgeflow, one module per type (`capture`, `detect`, `publish`), and
//! [`registry()`], the one explicit list of what this build knows. Types that need a cargo
//! feature this build lacks are listed as not compiled, so a pipeline that uses them gets
//! "rebuild with `--features X`" rather than "unknown type".
#![deny(missing_docs)]

pub mod capture;
#[cfg(feature = "gstreamer")]
pub mod decode;
pub mod detect;
pub mod eval;
#[cfg(feature = "gstreamer")]
pub mod media;
pub mod publish;
pub mod track;
pub mod zone;

use edgeflow_core::{NotCompiled, PortKind, Registry, Variant};

/// Every stage type this build has, plus the ones it was built without.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.source::<capture::TestPattern>(capture::test_pattern::INFO);
    r.source::<capture::replay::ReplaySource>(capture::replay::INFO);
    #[cfg(feature = "gstreamer")]
    {
        r.source::<capture::file::FileSource>(capture::file::INFO);
        r.source::<capture::rtsp::RtspSource>(capture::rtsp::INFO);
        r.source::<capture::v4l2::V4l2Source>(capture::v4l2::INFO);
        r.source::<capture::images::ImagesSource>(capture::images::INFO);
        r.transform::<decode::Decode>(decode::INFO);
    }
    #[cfg(not(feature = "gstreamer"))]
    {
        for value in ["file", "rtsp", "v4l2", "images"] {
            r.not_compiled(NotCompiled {
                type_name: "capture",
                variant: Some(Variant {
                    key: "source",
                    value,
                }),
                feature: "gstreamer",
                planned: false,
                input: None,
                output: Some(PortKind::Frame),
            });
        }
        r.not_compiled(NotCompiled {
            type_name: "decode",
            variant: None,
            feature: "gstreamer",
            planned: false,
            input: Some(PortKind::Packet),
            output: Some(PortKind::Frame),
        });
    }
    #[cfg(feature = "http")]
    r.source::<capture::http::HttpSource>(capture::http::INFO);
    #[cfg(not(feature = "http"))]
    r.not_compiled(NotCompiled {
        type_name: "capture",
        variant: Some(Variant {
            key: "source",
            value: "http",
        }),
        feature: "server",
        planned: false,
        input: None,
        output: Some(PortKind::Frame),
    });
    detect::backends::register(&mut r);
    r.transform::<track::Tracking>(track::INFO);
    r.transform::<zone::Zones>(zone::INFO);
    r.sink::<publish::JsonLines>(publish::jsonl::INFO);
    #[cfg(feature = "mqtt")]
    r.sink::<publish::mqtt::MqttSink>(publish::mqtt::INFO);
    #[cfg(feature = "webhook")]
    r.sink::<publish::webhook::Webhook>(publish::webhook::INFO);
    #[cfg(feature = "kafka")]
    r.sink::<publish::kafka::KafkaSink>(publish::kafka::INFO);
    let missing_sinks: Vec<&str> = [
        ("kafka", cfg!(feature = "kafka")),
        ("mqtt", cfg!(feature = "mqtt")),
        ("webhook", cfg!(feature = "webhook")),
    ]
    .into_iter()
    .filter(|(_, built)| !built)
    .map(|(s, _)| s)
    .collect();
    for sink in missing_sinks {
        r.not_compiled(NotCompiled {
            type_name: "publish",
            variant: Some(Variant {
                key: "sink",
                value: sink,
            }),
            feature: sink,
            planned: false,
            input: Some(PortKind::Any),
            output: None,
        });
    }
    r
}

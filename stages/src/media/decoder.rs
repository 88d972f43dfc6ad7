//! Which decoder decodes: `"auto"` (a hardware decoder when one takes the stream) or a named
//! element, applied per pipeline through decodebin's `autoplug-select` (no global rank
//! changes), and the decoder a pipeline ended up with.

use std::sync::{Arc, Mutex, PoisonError};

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;

use super::error::MediaError;
use super::init;
use super::pipeline::{Shared, is_video_decoder};

/// Hardware decoders, preferred in this order when they are installed and take the stream:
/// NVIDIA (Jetson, desktop), Raspberry Pi, Rockchip, VA-API.
pub const HARDWARE_DECODERS: &[&str] = &[
    "nvv4l2decoder",
    "nvh264dec",
    "nvh265dec",
    "v4l2slh264dec",
    "v4l2slh265dec",
    "v4l2h264dec",
    "v4l2h265dec",
    "mppvideodec",
    "vah264dec",
    "vah265dec",
];

/// The decoders a board profile (`cross/profiles/*.toml`, `decoders`) puts first for `"auto"`,
/// comma-separated, when `cross/build.sh` built this binary.
pub const PROFILE_DECODERS: Option<&str> = option_env!("EDGEFLOW_DECODERS");

/// The order `"auto"` tries decoders in: the board profile's, then [`HARDWARE_DECODERS`].
pub fn auto_order() -> Vec<&'static str> {
    let mut order: Vec<&'static str> = PROFILE_DECODERS
        .unwrap_or("")
        .split(',')
        .filter(|d| !d.is_empty())
        .collect();
    for d in HARDWARE_DECODERS {
        if !order.contains(d) {
            order.push(d);
        }
    }
    order
}

/// Which decoder to use: `"auto"` (a hardware decoder when one takes the stream, else the
/// best-ranked software one, normally `avdec_*`) or a GStreamer element name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DecoderChoice {
    /// Prefer hardware, fall back to software.
    #[default]
    Auto,
    /// Exactly this element.
    Named(String),
}

impl DecoderChoice {
    /// From the config string.
    pub fn parse(s: &str) -> DecoderChoice {
        if s == "auto" {
            DecoderChoice::Auto
        } else {
            DecoderChoice::Named(s.to_string())
        }
    }

    /// Checks a named decoder is installed.
    pub fn check_installed(&self) -> Result<(), MediaError> {
        init()?;
        if let DecoderChoice::Named(name) = self
            && gst::ElementFactory::find(name).is_none()
        {
            return Err(MediaError::new(format!("GStreamer element `{name}` is not installed"))
                .help("use `decoder = \"auto\"`, or install the plugin that has it (`gst-inspect-1.0` lists what is installed)"));
        }
        Ok(())
    }

    /// The decoder that should handle `caps`, if the choice names one.
    fn preferred(&self, caps: &gst::CapsRef) -> Option<String> {
        match self {
            DecoderChoice::Named(n) => Some(n.clone()),
            DecoderChoice::Auto => auto_order()
                .into_iter()
                .filter_map(gst::ElementFactory::find)
                .find(|f| f.can_sink_any_caps(caps))
                .map(|f| f.name().to_string()),
        }
    }
}

/// The decoder choice, applied through decodebin's `autoplug-select`.
pub(super) fn install_decoder_choice(
    bin: &gst::Element,
    choice: &DecoderChoice,
    shared: &Arc<Mutex<Shared>>,
) {
    let choice = choice.clone();
    let shared = shared.clone();
    bin.connect("autoplug-select", false, move |args| {
        let caps = args.get(2)?.get::<gst::Caps>().ok()?;
        let factory = args.get(3)?.get::<gst::ElementFactory>().ok()?;
        // GstAutoplugSelectResult: 0 = TRY, 2 = SKIP.
        let mut result = 0;
        if is_video_decoder(&factory)
            && let Some(preferred) = choice.preferred(&caps)
        {
            if factory.name() != preferred.as_str() {
                result = 2;
            }
            if let DecoderChoice::Named(n) = &choice
                && !gst::ElementFactory::find(n).is_some_and(|f| f.can_sink_any_caps(&caps))
            {
                let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
                s.refused.get_or_insert_with(|| {
                    MediaError::new(format!("decoder `{n}` cannot decode {caps}"))
                        .help("use `decoder = \"auto\"` or a decoder for this codec")
                });
            }
        }
        let ty = glib::Type::from_name("GstAutoplugSelectResult")?;
        glib::EnumClass::with_type(ty)?.to_value(result)
    });
}

/// Records the decoder GStreamer plugs in; with `wait_key_frame`, tells RTP depayloaders
/// (`rtph264depay`, …) to hold back data until a key frame and to ask the server for one.
pub(super) fn watch_decoder(
    pipeline: &gst::Pipeline,
    shared: &Arc<Mutex<Shared>>,
    wait_key_frame: bool,
) {
    let shared = shared.clone();
    pipeline.connect_deep_element_added(move |_, _, element| {
        if wait_key_frame {
            for prop in ["wait-for-keyframe", "request-keyframe"] {
                if element.has_property(prop) {
                    element.set_property(prop, true);
                }
            }
        }
        let Some(factory) = element.factory() else {
            return;
        };
        if !is_video_decoder(&factory) {
            return;
        }
        let name = factory.name().to_string();
        tracing::debug!(decoder = name, "decoder chosen");
        shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .decoder
            .get_or_insert(name);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_decoder_must_exist() {
        assert!(DecoderChoice::parse("auto").check_installed().is_ok());
        let e = DecoderChoice::parse("nosuchdec")
            .check_installed()
            .unwrap_err();
        assert!(e.message.contains("`nosuchdec` is not installed"));
    }

    /// `auto` tries the board profile's decoders first (none in a plain build), then every
    /// hardware decoder once.
    #[test]
    fn auto_tries_the_profiles_decoders_first_then_every_hardware_one() {
        let order = auto_order();
        let profile: Vec<&str> = PROFILE_DECODERS
            .unwrap_or("")
            .split(',')
            .filter(|d| !d.is_empty())
            .collect();
        assert_eq!(order[..profile.len()], profile[..]);
        for d in HARDWARE_DECODERS {
            assert_eq!(order.iter().filter(|x| *x == d).count(), 1, "{d}");
        }
        if PROFILE_DECODERS.is_none() {
            assert_eq!(order, HARDWARE_DECODERS);
        }
    }
}

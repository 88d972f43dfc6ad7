//! `edgeflow serve-rtsp`: a local RTSP server for trying pipelines without a camera (and for
//! the tests, which kill and restart it to exercise reconnects).

use std::process::ExitCode;

use anyhow::{Context, bail};
use gstreamer as gst;
use gstreamer::glib;
use gstreamer_rtsp_server as rtsp;
use gstreamer_rtsp_server::prelude::*;

/// Serve a live H.264 test pattern, or a video file, over RTSP.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// TCP port to listen on (0: any free port; the URL printed says which).
    #[arg(long, default_value_t = 8554)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    address: String,
    /// Mount path.
    #[arg(long, default_value = "/test")]
    path: String,
    /// Serve this video file instead of a test pattern: H.264 as it is, anything else
    /// transcoded to H.264 (looping is up to the client).
    #[arg(long)]
    file: Option<std::path::PathBuf>,
    /// Test pattern width.
    #[arg(long, default_value_t = 320)]
    width: u32,
    /// Test pattern height.
    #[arg(long, default_value_t = 240)]
    height: u32,
    /// Test pattern frame rate.
    #[arg(long, default_value_t = 30)]
    fps: u32,
}

/// The video caps a file holds, parsed but not decoded (`video/x-h264`, `video/x-msmpeg`),
/// from a short probe pipeline.
fn video_caps(loc: &str) -> anyhow::Result<String> {
    let probe = gst::parse::launch(&format!(
        "filesrc location=\"{loc}\" ! parsebin ! fakesink name=sink"
    ))
    .context("cannot build the probe pipeline")?;
    let bin = probe
        .downcast_ref::<gst::Bin>()
        .context("the probe pipeline is not a bin")?;
    let sink = bin.by_name("sink").context("the probe has no sink")?;
    let _ = probe.set_state(gst::State::Paused);
    let (state, _, _) = probe.state(gst::ClockTime::from_seconds(5));
    let caps = sink
        .static_pad("sink")
        .and_then(|p| p.current_caps())
        .and_then(|c| c.structure(0).map(|s| s.name().to_string()));
    let _ = probe.set_state(gst::State::Null);
    match (state, caps) {
        (Ok(_), Some(c)) if c.starts_with("video/") => Ok(c),
        (_, Some(c)) => bail!("the file's first stream is {c}, not video"),
        _ => bail!("GStreamer cannot read a video stream from it"),
    }
}

fn launch_line(args: &Args) -> anyhow::Result<String> {
    Ok(match &args.file {
        Some(f) => {
            let f =
                std::fs::canonicalize(f).with_context(|| format!("cannot open {}", f.display()))?;
            let loc = f.display().to_string().replace('"', "\\\"");
            let caps = video_caps(&loc).with_context(|| format!("cannot serve {}", f.display()))?;
            if caps == "video/x-h264" {
                format!(
                    "( filesrc location=\"{loc}\" ! parsebin ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )"
                )
            } else {
                // RTSP clients here take H.264: encode anything else on the way out.
                eprintln!(
                    "{} is {caps}, not H.264: transcoding it with x264enc",
                    f.display()
                );
                format!(
                    "( filesrc location=\"{loc}\" ! decodebin ! videoconvert ! video/x-raw,format=I420 \
                     ! x264enc tune=zerolatency speed-preset=ultrafast ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
                )
            }
        }
        None => format!(
            "( videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width={},height={},framerate={}/1 \
             ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={} \
             ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
            args.width, args.height, args.fps, args.fps
        ),
    })
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    gst::init().context("cannot initialise GStreamer")?;
    if !args.path.starts_with('/') {
        bail!("--path must start with `/`, e.g. /test");
    }
    let main_loop = glib::MainLoop::new(None, false);
    let server = rtsp::RTSPServer::new();
    server.set_address(&args.address);
    server.set_service(&args.port.to_string());
    let mounts = server
        .mount_points()
        .context("the RTSP server has no mount points")?;
    let factory = rtsp::RTSPMediaFactory::new();
    factory.set_launch(&launch_line(&args)?);
    factory.set_shared(true);
    mounts.add_factory(&args.path, factory);
    let _source = server
        .attach(None)
        .with_context(|| format!("cannot listen on {}:{}", args.address, args.port))?;
    println!(
        "serving rtsp://{}:{}{}",
        args.address,
        server.bound_port(),
        args.path
    );
    let quit = main_loop.clone();
    ctrlc::set_handler(move || quit.quit()).context("cannot install the Ctrl-C handler")?;
    main_loop.run();
    Ok(ExitCode::SUCCESS)
}

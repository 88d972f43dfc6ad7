//! The live page in a real browser: Debian's Chromium, headless, with a fake camera that
//! plays a face still (a y4m made with GStreamer). The page posts the camera's frames,
//! BlazeFace finds the face, `/frame_data` returns it, and the page draws the box: a
//! screenshot (over the DevTools protocol) must show the box colour along the edges of the
//! face's box where `/frame_data` says it is. The screenshot is kept in
//! `target/test-artifacts/browser-overlay.png`.

mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use support::served::Served;
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The face still as a 10 fps y4m, the format Chromium's fake camera reads.
fn face_y4m(dir: &Path) -> PathBuf {
    let out = dir.join("face.y4m");
    let status = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "filesrc",
            &format!(
                "location={}",
                root().join("assets/images/grace_hopper.jpg").display()
            ),
            "!",
            "jpegdec",
            "!",
            "videoconvert",
            "!",
            "video/x-raw,format=I420",
            "!",
            "imagefreeze",
            "num-buffers=20",
            "!",
            "video/x-raw,framerate=10/1",
            "!",
            "y4menc",
            "!",
            "filesink",
            &format!("location={}", out.display()),
        ])
        .status()
        .expect("gst-launch-1.0 (scripts/setup.sh installs it)");
    assert!(status.success(), "the y4m is made");
    out
}

/// A browser that is killed when dropped.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Headless Chromium on `url` with the fake camera; its DevTools port.
fn chromium(dir: &Path, y4m: &Path, url: &str) -> (Browser, u16) {
    let profile = dir.join("profile");
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            &format!("--use-file-for-fake-video-capture={}", y4m.display()),
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=800,900",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            &format!("--user-data-dir={}", profile.display()),
            url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium (scripts/setup.sh installs Debian's chromium)");
    let browser = Browser(child);
    // Chromium writes the port it took into the profile.
    let file = profile.join("DevToolsActivePort");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(port) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
        {
            return (browser, port);
        }
        assert!(
            Instant::now() < until,
            "chromium did not open its DevTools port"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A DevTools session with the page.
struct Tab {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    id: u64,
}

impl Tab {
    fn open(port: u16) -> Tab {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let until = Instant::now() + Duration::from_secs(30);
        let url = loop {
            let list: Option<Value> = agent
                .get(format!("http://127.0.0.1:{port}/json/list"))
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_to_string().ok())
                .and_then(|t| serde_json::from_str(&t).ok());
            let page = list.as_ref().and_then(|l| {
                l.as_array()?.iter().find(|t| t["type"] == "page")?["webSocketDebuggerUrl"]
                    .as_str()
                    .map(String::from)
            });
            if let Some(u) = page {
                break u;
            }
            assert!(Instant::now() < until, "no page in chromium: {list:?}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let (ws, _) = tungstenite::connect(url.as_str()).expect("the DevTools socket");
        Tab { ws, id: 0 }
    }

    /// Call a DevTools method and return its result (events on the way are skipped).
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let id = self.id;
        self.ws
            .send(Message::text(
                json!({ "id": id, "method": method, "params": params }).to_string(),
            ))
            .expect("send");
        loop {
            let m = self.ws.read().expect("a DevTools message");
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).expect("JSON");
            if v["id"] == id {
                assert!(v["error"].is_null(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluate `expr` in the page; its value (JSON-able).
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }
}

#[test]
fn the_page_posts_the_camera_and_draws_the_face_box_where_frame_data_says() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("browser.toml");
    let pipeline = std::fs::read_to_string(root().join("pipelines/browser-faces.toml"))
        .unwrap()
        .replace(
            "sink = \"jsonl\"",
            &format!(
                "sink = \"jsonl\"\npath = {:?}",
                dir.path().join("events.jsonl")
            ),
        );
    std::fs::write(&file, pipeline).unwrap();
    let server = Served::start(&file);
    let y4m = face_y4m(dir.path());
    let url = format!("{}/?camera=1&stream_id=browser&fps=4", server.base);
    let (browser, port) = chromium(dir.path(), &y4m, &url);
    let mut tab = Tab::open(port);

    // Wait until the page has drawn a few overlays with the face in them.
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let drawn = tab.eval("window.edgeflow ? window.edgeflow.drawn : -1");
        if drawn.as_i64().unwrap_or(-1) >= 3 {
            break;
        }
        if Instant::now() > until {
            let error = tab.eval("document.getElementById('error').textContent");
            let info = tab.eval("document.getElementById('info').textContent");
            drop(browser);
            panic!(
                "the page drew no face (drawn {drawn}, info {info}, error {error})\nedgeflow:\n{}",
                server.log()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Where the overlay is on the screen, and where /frame_data says the face is.
    let rect = tab.eval(
        "(() => { const r = document.getElementById('overlay').getBoundingClientRect(); \
         return [r.left, r.top, r.width, r.height, devicePixelRatio]; })()",
    );
    let data = server.get("/frame_data?stream_id=browser").json();
    let face = data["detections"]
        .as_array()
        .and_then(|d| d.first())
        .cloned()
        .unwrap_or_else(|| panic!("/frame_data has the face: {data}"));
    assert_eq!(face["class"], "face");
    let shot = tab.call("Page.captureScreenshot", json!({ "format": "png" }));
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    let artifacts = root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join("browser-overlay.png"), &png).unwrap();
    drop(browser);

    let decoder = png::Decoder::new(std::io::Cursor::new(&png));
    let mut reader = decoder.read_info().unwrap();
    let mut px = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut px).unwrap();
    let channels = info.color_type.samples();
    let (iw, ih) = (info.width as i64, info.height as i64);
    let at = |x: i64, y: i64| -> [u8; 3] {
        let i = ((y.clamp(0, ih - 1) * iw + x.clamp(0, iw - 1)) as usize) * channels;
        [px[i], px[i + 1], px[i + 2]]
    };
    let box_colour = |p: [u8; 3]| p[1] > 200 && p[0] < 90 && p[2] < 90;
    let f = |v: &Value| v.as_f64().unwrap();
    let dpr = f(&rect[4]);
    let (left, top, width, height) = (
        f(&rect[0]) * dpr,
        f(&rect[1]) * dpr,
        f(&rect[2]) * dpr,
        f(&rect[3]) * dpr,
    );
    assert!(
        width > 100.0 && height > 100.0,
        "the overlay covers the video: {rect}"
    );
    let b = &face["box"];
    let (bx, by, bw, bh) = (f(&b["x"]), f(&b["y"]), f(&b["width"]), f(&b["height"]));
    let screen = |fx: f64, fy: f64| ((left + fx * width) as i64, (top + fy * height) as i64);
    // Along each edge, the box colour within a few pixels across it (boxes move a little
    // from frame to frame of the fake camera's re-encoded stills).
    let near = |x: i64, y: i64, horizontal: bool| {
        (-5..=5).any(|d| {
            let (px, py) = if horizontal { (x, y + d) } else { (x + d, y) };
            box_colour(at(px, py))
        })
    };
    let mut hits = 0;
    let mut total = 0;
    for i in 1..20 {
        let t = f64::from(i) / 20.0;
        for (fx, fy, horizontal) in [
            (bx + t * bw, by, true),
            (bx + t * bw, by + bh, true),
            (bx, by + t * bh, false),
            (bx + bw, by + t * bh, false),
        ] {
            let (x, y) = screen(fx, fy);
            total += 1;
            if near(x, y, horizontal) {
                hits += 1;
            }
        }
    }
    assert!(
        hits * 10 >= total * 8,
        "the box colour along the face box's edges: {hits} of {total} points (screenshot in target/test-artifacts/browser-overlay.png)"
    );
    // Inside the box is the face, not the box colour.
    let (cx, cy) = screen(bx + bw / 2.0, by + bh / 2.0);
    assert!(
        !box_colour(at(cx, cy)),
        "the face itself is not painted over"
    );
    let posted = server.get("/streams").json();
    assert!(
        posted["streams"][0]["posted"].as_u64().unwrap_or(0) >= 3,
        "the page posted frames: {posted}"
    );
    server.stop();
}

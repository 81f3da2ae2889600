//! Pages opened in a real browser, for the tests of what people see (the
//! `arca report --html` file, the dashboard): Debian's Chromium driven by
//! playwright-core through the node script `tests/browser/page.mjs`, which
//! prints what it found as one JSON document.
//!
//! ```ignore
//! mod browser;
//!
//! let Some(browser) = browser::Browser::find() else { return Ok(()) }; // skipped, reason printed
//! let seen = browser
//!     .page(&url)                                  // http(s)://… or a file path
//!     .header("Authorization", &format!("Bearer {token}"))
//!     .cookie("arca-token", &token)
//!     .select("table#counts td.count")             // texts and count of matching elements
//!     .screenshot(&png)                            // full page (or .screenshot_viewport)
//!     .open()?;                                    // blocking; `.open_async().await?` in async tests
//! assert_eq!(seen.count("table#counts td.count"), 4);
//! assert!(seen.console_errors().is_empty());
//! ```
//!
//! Needs `/usr/bin/chromium` (or `ARCA_CHROMIUM`), `node`, and
//! `tests/browser/node_modules` (`scripts/browser-setup.sh` installs all
//! three). Without them a test skips with a message naming that script;
//! under `CI=true` it fails instead.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long one page may take (start the browser, load, screenshot).
const TIMEOUT: Duration = Duration::from_secs(90);

/// The browser test tools, found.
#[derive(Clone, Debug)]
pub struct Browser {
    chromium: PathBuf,
    script_dir: PathBuf,
}

impl Browser {
    /// The tools, or `None` (with the reason printed) when they are missing
    /// outside CI. Under `CI=true` a missing tool fails the test.
    pub fn find() -> Option<Browser> {
        let script_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
        let chromium = PathBuf::from(std::env::var("ARCA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
        let node_ok = Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let missing: Vec<String> = [
            (!chromium.is_file()).then(|| format!("{} (Debian package chromium)", chromium.display())),
            (!node_ok).then(|| "node".to_string()),
            (!script_dir.join("node_modules/playwright-core/package.json").is_file())
                .then(|| "tests/browser/node_modules (npm ci)".to_string()),
        ]
        .into_iter()
        .flatten()
        .collect();
        if missing.is_empty() {
            return Some(Browser { chromium, script_dir });
        }
        let why = format!("browser tests need {}; run scripts/browser-setup.sh", missing.join(", "));
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but {why}");
        eprintln!("skipping: {why}");
        None
    }

    /// A page to open: a URL (`http://…`, `file:///…`) or a file path.
    pub fn page(&self, url: &str) -> PageRequest {
        PageRequest {
            browser: self.clone(),
            url: url.to_string(),
            args: Vec::new(),
            selectors: Vec::new(),
            timeout: TIMEOUT,
        }
    }
}

/// What to do with a page; [`PageRequest::open`] runs it.
#[derive(Clone, Debug)]
pub struct PageRequest {
    browser: Browser,
    url: String,
    args: Vec<String>,
    selectors: Vec<String>,
    timeout: Duration,
}

impl PageRequest {
    /// Sends this header with every request of the page.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.args.extend(["--header".into(), format!("{name}: {value}")]);
        self
    }

    /// Sets a cookie for the page's origin first.
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        self.args.extend(["--cookie".into(), format!("{name}={value}")]);
        self
    }

    /// Reports the texts and count of the elements matching `css`.
    pub fn select(mut self, css: &str) -> Self {
        self.selectors.push(css.to_string());
        self
    }

    /// Saves a full-page PNG screenshot to `path`.
    pub fn screenshot(mut self, path: &Path) -> Self {
        self.args.extend(["--screenshot".into(), path.display().to_string()]);
        self
    }

    /// Saves a PNG screenshot of the viewport (1280×800 unless
    /// [`PageRequest::width`] says otherwise) to `path`.
    pub fn screenshot_viewport(mut self, path: &Path) -> Self {
        self.args.extend(["--screenshot-viewport".into(), path.display().to_string()]);
        self
    }

    /// In screenshots only, shows `with` wherever the page's text has `text`
    /// (a temporary directory's path, say, in a picture for the docs).
    /// What [`Seen`] reports is the page as it was.
    pub fn redact(mut self, text: &str, with: &str) -> Self {
        self.args.extend(["--redact".into(), format!("{text}={with}")]);
        self
    }

    /// Viewport width in pixels (default 1280).
    pub fn width(mut self, px: u32) -> Self {
        self.args.extend(["--width".into(), px.to_string()]);
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Opens the page and returns what the browser saw. Blocking.
    pub fn open(self) -> anyhow::Result<Seen> {
        let mut cmd = Command::new("node");
        cmd.arg(self.browser.script_dir.join("page.mjs"))
            .arg(&self.url)
            .args(&self.args)
            // Selectors last, after `--`, so none is taken for an option.
            .arg("--")
            .args(&self.selectors)
            .env("ARCA_CHROMIUM", &self.browser.chromium)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| anyhow::anyhow!("starting node tests/browser/page.mjs: {e}"))?;
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!(
                    "page.mjs {} did not finish within {:?}; stderr: {}",
                    self.url,
                    self.timeout,
                    err.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (stdout, stderr) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
        anyhow::ensure!(status.success(), "page.mjs {} failed ({status}):\n{stderr}\n{stdout}", self.url);
        let json: Value = serde_json::from_str(stdout.trim())
            .map_err(|e| anyhow::anyhow!("page.mjs printed no JSON ({e}):\n{stdout}\nstderr:\n{stderr}"))?;
        Ok(Seen { json })
    }

    /// [`PageRequest::open`] off the async workers.
    pub async fn open_async(self) -> anyhow::Result<Seen> {
        tokio::task::spawn_blocking(move || self.open()).await?
    }
}

/// What the browser saw (the JSON of `page.mjs`).
#[derive(Clone, Debug)]
pub struct Seen {
    pub json: Value,
}

impl Seen {
    pub fn title(&self) -> &str {
        self.json["title"].as_str().unwrap_or_default()
    }

    /// The HTTP status of the page (200 for a file).
    pub fn status(&self) -> Option<u64> {
        self.json["status"].as_u64()
    }

    /// How many elements matched `css` (one given to [`PageRequest::select`]).
    pub fn count(&self, css: &str) -> usize {
        self.json["selectors"][css]["count"].as_u64().unwrap_or_else(|| panic!("{css:?} was not selected")) as usize
    }

    /// The text of each element matching `css`, trimmed.
    pub fn texts(&self, css: &str) -> Vec<String> {
        strings(&self.json["selectors"][css]["texts"])
    }

    /// The one element matching `css`'s text.
    pub fn text(&self, css: &str) -> String {
        let texts = self.texts(css);
        assert_eq!(texts.len(), 1, "{css:?} should match one element: {texts:?}");
        texts.into_iter().next().unwrap_or_default()
    }

    /// The value of attribute `attr` (a `data-*` one) of each element
    /// matching `css`, for those that have it.
    pub fn data(&self, css: &str, attr: &str) -> Vec<String> {
        let all = self.json["selectors"][css]["data"].as_array().unwrap_or_else(|| panic!("{css:?} was not selected"));
        all.iter().filter_map(|d| d[attr].as_str().map(String::from)).collect()
    }

    /// The page's text as rendered (`innerText` of the body: what shows,
    /// not what is hidden).
    pub fn page_text(&self) -> &str {
        self.json["text"].as_str().unwrap_or_default()
    }

    /// The DOM after loading, serialized (`outerHTML` of the document).
    pub fn html(&self) -> &str {
        self.json["html"].as_str().unwrap_or_default()
    }

    /// A navigation timing in milliseconds since the navigation began
    /// (`first_paint`, `first_contentful_paint`, `response_start`,
    /// `response_end`, `dom_content_loaded`, `load`).
    pub fn timing(&self, name: &str) -> Option<f64> {
        self.json["timing"][name].as_f64()
    }

    /// Console messages of level error, and uncaught page errors.
    pub fn console_errors(&self) -> Vec<String> {
        let mut all = strings(&self.json["console_errors"]);
        all.extend(strings(&self.json["page_errors"]));
        all
    }

    /// Every URL the page requested, the page itself first.
    pub fn requests(&self) -> Vec<String> {
        strings(&self.json["requests"])
    }

    /// Requests that failed: (URL, error).
    pub fn failed_requests(&self) -> Vec<(String, String)> {
        self.json["failed_requests"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (r["url"].as_str().unwrap_or_default().into(), r["error"].as_str().unwrap_or_default().into())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Where a test saves the screenshot `name`: `docs/images/` when
/// `ARCA_UPDATE_SCREENSHOTS=1` (to refresh the images the docs show), else
/// `dir` (a temporary directory: CI leaves the tree clean).
pub fn screenshot_path(dir: &Path, name: &str) -> PathBuf {
    if std::env::var("ARCA_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let images = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/images");
        std::fs::create_dir_all(&images).expect("docs/images");
        images.join(name)
    } else {
        dir.join(name)
    }
}

/// Standard base64 with padding: how a Secret's value is stored, so how a
/// leak of it would most likely show.
pub fn b64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() { A[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

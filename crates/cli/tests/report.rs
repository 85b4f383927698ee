//! `flowatlas report` opened in a real browser: Debian's headless Chromium (installed by the
//! test command), driven through the DevTools protocol over `--remote-debugging-pipe` (JSON
//! messages ended by NUL on two named pipes, so no WebSocket client is needed). The page must
//! load with no console error and no request beyond itself, and show what the tables hold
//! (counted again with DuckDB, a second engine).

mod support;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{flowatlas_ok, flowatlas_ok_with, python, scratch};

const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(60);

/// A headless Chromium with one page, and everything it reported.
struct Browser {
    child: Child,
    to_browser: File,
    from_browser: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Events seen so far (method and params).
    events: Vec<Value>,
}

impl Browser {
    fn launch(dir: &Path) -> Browser {
        std::fs::create_dir_all(dir).unwrap();
        let (input, output) = (dir.join("to-browser"), dir.join("from-browser"));
        for pipe in [&input, &output] {
            let status = Command::new("mkfifo").arg(pipe).status().unwrap();
            assert!(status.success(), "mkfifo {}", pipe.display());
        }
        let profile = dir.join("profile");
        // The shell hands the pipes to Chromium as descriptors 3 and 4, where
        // --remote-debugging-pipe expects them.
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                r#"exec {CHROMIUM} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$2" --remote-debugging-pipe 3<"$0" 4>"$1""#
            ))
            .arg(&input)
            .arg(&output)
            .arg(&profile)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("chromium.log")).unwrap())
            .spawn()
            .expect("chromium is installed by the test command (.ci/test)");
        let to_browser = OpenOptions::new().write(true).open(&input).unwrap();
        let reader = File::open(&output).unwrap();
        let (sender, from_browser) = channel();
        std::thread::spawn(move || {
            for message in BufReader::new(reader).split(0) {
                let Ok(message) = message else { break };
                let Ok(value) = serde_json::from_slice::<Value>(&message) else {
                    continue;
                };
                if sender.send(value).is_err() {
                    break;
                }
            }
        });
        let mut browser = Browser {
            child,
            to_browser,
            from_browser,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
        };
        let target = browser.call("Target.createTarget", json!({"url": "about:blank"}));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        for domain in ["Page", "Runtime", "Log", "Network"] {
            browser.call(&format!("{domain}.enable"), json!({}));
        }
        browser
    }

    /// Sends a command (to the page once attached) and waits for its answer, keeping the
    /// events that arrive meanwhile.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser.write_all(&bytes).unwrap();
        loop {
            let reply = self.next_message(method);
            if reply["id"].as_u64() == Some(id) {
                assert!(reply["error"].is_null(), "{method}: {reply}");
                return reply["result"].clone();
            }
            self.events.push(reply);
        }
    }

    fn next_message(&mut self, waiting_for: &str) -> Value {
        self.from_browser
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("no answer from Chromium to {waiting_for}"))
    }

    /// Opens a file and waits for its load event.
    fn open(&mut self, page: &Path) -> String {
        let url = format!("file://{}", page.canonicalize().unwrap().display());
        self.call("Page.navigate", json!({"url": url}));
        let deadline = Instant::now() + WAIT;
        while !self
            .events
            .iter()
            .any(|event| event["method"] == "Page.loadEventFired")
        {
            assert!(Instant::now() < deadline, "{url} did not load");
            let event = self.next_message("Page.loadEventFired");
            self.events.push(event);
        }
        url
    }

    /// Evaluates an expression in the page; its value as JSON.
    fn evaluate(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(
            result["exceptionDetails"].is_null(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Console errors, uncaught exceptions and browser log errors (a blocked request is one).
    fn errors(&self) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|event| match event["method"].as_str() {
                Some("Runtime.exceptionThrown") => true,
                Some("Runtime.consoleAPICalled") => {
                    matches!(event["params"]["type"].as_str(), Some("error" | "assert"))
                }
                Some("Log.entryAdded") => event["params"]["entry"]["level"] == "error",
                _ => false,
            })
            .collect()
    }

    /// URLs requested other than the page itself.
    fn other_requests(&self, page_url: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|event| event["method"] == "Network.requestWillBeSent")
            .filter_map(|event| event["params"]["request"]["url"].as_str())
            .filter(|url| *url != page_url)
            .map(str::to_string)
            .collect()
    }

    /// A PNG of the whole page, 1280 pixels wide.
    fn screenshot(&mut self, path: &Path) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
        );
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64_decode(shot["data"].as_str().unwrap());
        std::fs::write(path, &png).unwrap();
    }
}

impl Drop for Browser {
    /// Asks Chromium to close, so its helper processes are gone before the test removes its
    /// profile; killed if it does not within the wait.
    fn drop(&mut self) {
        let _ = self
            .to_browser
            .write_all(b"{\"id\":0,\"method\":\"Browser.close\"}\0");
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (the screenshot's encoding).
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3);
    let (mut buffer, mut bits) = (0u32, 0);
    for symbol in text.bytes().filter(|&symbol| symbol != b'=') {
        let value = ALPHABET.iter().position(|&a| a == symbol).unwrap() as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
    }
    bytes
}

fn artifact(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
fn the_demo_report_in_a_browser() {
    let base = scratch("report-demo");
    let dir = base.join("demo");
    // The demo as users run it (fewer records per object thin the incident below detection).
    let args = ["demo", "--dir", dir.to_str().unwrap()];
    let stdout = String::from_utf8(flowatlas_ok(&args)).unwrap();
    let page = dir.join("report.html");
    assert!(
        stdout.contains(&format!("Report: {}", page.display())),
        "{stdout}"
    );
    // The incident as the demo states it: "... in London loses most of its traffic from
    // 14:20 to 15:00 UTC."
    let incident = stdout
        .lines()
        .find(|line| line.starts_with("Built in: AS"))
        .unwrap();
    let start = incident
        .split(" from ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 2 * 1024 * 1024, "a day of the demo in {size} bytes");

    // City-networks in the range, by DuckDB: service location × `city_network_id` (the
    // clients' network and place), with traffic and coordinates.
    let script = r#"
import sys, duckdb
source = f"read_parquet('{sys.argv[1]}/city_networks/**/*.parquet', hive_partitioning = true)"
print(duckdb.connect().execute(f"""SELECT count(*) FROM (SELECT 1 FROM {source}
    WHERE client_latitude IS NOT NULL AND client_longitude IS NOT NULL
    GROUP BY account_id, region, city_network_id
    HAVING sum(bytes_in + bytes_out) > 0)""").fetchone()[0])
"#;
    let tables = dir.join("tables");
    let expected_circles: u64 = String::from_utf8(python(script, &[tables.to_str().unwrap()]))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(expected_circles > 10, "{expected_circles}");

    let mut browser = Browser::launch(&base.join("browser"));
    let url = browser.open(&page);
    let found = browser.evaluate(
        r##"({
            circles: document.querySelectorAll("svg.world circle.cn").length,
            titled: document.querySelectorAll("svg.world circle.cn > title").length,
            events: Array.from(document.querySelectorAll("#events article.event")).map(
                (event) => [event.querySelector("h3").textContent, event.querySelector("dd.started").textContent]),
            charts: document.querySelectorAll("svg.chart polyline").length,
            topRows: document.querySelectorAll("table.sortable tbody tr").length
        })"##,
    );
    assert_eq!(found["circles"], expected_circles, "{found}");
    assert_eq!(found["titled"], expected_circles, "{found}");
    let london_outage = found["events"].as_array().unwrap().iter().any(|event| {
        let heading = event[0].as_str().unwrap();
        heading.contains("LOCAL_AVAILABILITY")
            && heading.contains("London")
            && event[1] == format!("2026-06-01 {start} UTC")
    });
    assert!(london_outage, "the London outage from {start}: {found}");
    assert!(found["charts"].as_u64().unwrap() > 3, "{found}");
    assert!(found["topRows"].as_u64().unwrap() > 10, "{found}");

    // Sorting: a click on "share" sorts descending, a second one ascending.
    let sorted = browser.evaluate(
        r##"(() => {
            const table = document.querySelector("table.sortable");
            const heading = table.querySelectorAll("th")[2];
            const shares = () => Array.from(table.tBodies[0].rows).map((row) => parseFloat(row.cells[2].dataset.value));
            heading.click();
            const descending = shares();
            heading.click();
            return [descending, shares()];
        })()"##,
    );
    let column = |index: usize| -> Vec<f64> {
        sorted[index]
            .as_array()
            .unwrap()
            .iter()
            .map(|value| value.as_f64().unwrap())
            .collect()
    };
    let (descending, ascending) = (column(0), column(1));
    assert!(
        descending.windows(2).all(|pair| pair[0] >= pair[1]),
        "{descending:?}"
    );
    assert!(
        ascending.windows(2).all(|pair| pair[0] <= pair[1]),
        "{ascending:?}"
    );
    assert!(descending.first() > descending.last(), "{descending:?}");

    let shot = artifact("report-demo.png");
    browser.screenshot(&shot);
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{}",
        shot.display()
    );

    assert!(browser.errors().is_empty(), "{:?}", browser.errors());
    assert_eq!(browser.other_requests(&url), Vec::<String>::new());
    drop(browser);
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn an_empty_range_is_a_no_data_page() {
    let base = scratch("report-empty");
    let tables = base.join("tables");
    std::fs::create_dir_all(&tables).unwrap();
    let page = base.join("empty.html");
    let args = [
        "report",
        "--data",
        tables.to_str().unwrap(),
        "--from",
        "2030-01-01",
        "--to",
        "2030-01-02",
        "--out",
        page.to_str().unwrap(),
    ];
    let stdout = String::from_utf8(flowatlas_ok(&args)).unwrap();
    assert!(stdout.contains("no data in this range"), "{stdout}");

    let mut browser = Browser::launch(&base.join("browser"));
    let url = browser.open(&page);
    let found = browser.evaluate(
        r##"({
            heading: document.querySelector("#no-data h2")?.textContent,
            text: document.querySelector("#no-data p")?.textContent,
            circles: document.querySelectorAll("circle").length,
            sections: document.querySelectorAll("section").length
        })"##,
    );
    assert_eq!(found["heading"], "No data in this range", "{found}");
    let text = found["text"].as_str().unwrap();
    assert!(
        text.contains("2030-01-01 00:00 UTC") && text.contains("2030-01-02 00:00 UTC"),
        "{text}"
    );
    assert_eq!(
        (found["circles"].as_u64(), found["sections"].as_u64()),
        (Some(0), Some(1))
    );
    browser.screenshot(&artifact("report-empty.png"));
    assert!(browser.errors().is_empty(), "{:?}", browser.errors());
    assert_eq!(browser.other_requests(&url), Vec::<String>::new());
    drop(browser);
    std::fs::remove_dir_all(&base).unwrap();
}

/// Performance on the page: the scenario's flow-log rollups and agent-shaped performance rows
/// (written by the tables' own writer, as `flowatlas process` writes them; no agent runs here)
/// with one ISP in one city going from about 40 to 400 ms for 30 minutes, assessed by
/// `flowatlas health`. The report must show the performance score over time, the
/// `LOCAL_PERFORMANCE` event beside the availability ones, and per city-network RTT p50/p90
/// of the `tcp_srtt` source equal to the range's merged histograms (read back with the tables'
/// reader, not the report's code); no `tls_handshake` table (nothing measured it), and the
/// footer naming the sources instead of saying performance is not shown.
#[test]
fn performance_is_shown_where_measured() {
    use flowatlas_rollup::{CityNetworkKey, RttHistogram, RttSource};
    use flowatlas_tables::{
        city_network_performance, city_networks, client_prefixes, prefix_performance,
        read_city_network_performance, write_partitioned,
    };

    let base = scratch("report-performance");
    let tables = base.join("tables");
    let path = |path: &Path| path.to_str().unwrap().to_string();
    let scenario = flowatlas_demo::Scenario::new(1, 3);
    let incident = &scenario.performance_incidents[0];
    let n_windows = ((incident.end + 3600 - scenario.start) / 300) as usize;
    let (mut city_rows, mut prefix_rows) = (Vec::new(), Vec::new());
    let (mut flow_rows, mut flow_prefix_rows) = (Vec::new(), Vec::new());
    for index in 0..n_windows {
        let (city, prefixes) = scenario.performance_window(index);
        city_rows.extend(city);
        prefix_rows.extend(prefixes);
        let (city, prefixes) = scenario.window(index);
        flow_rows.extend(city);
        flow_prefix_rows.extend(prefixes);
    }
    write_partitioned(&city_network_performance(), &city_rows, &tables, "agent").unwrap();
    write_partitioned(&prefix_performance(), &prefix_rows, &tables, "agent").unwrap();
    write_partitioned(&city_networks(), &flow_rows, &tables, "flows").unwrap();
    write_partitioned(&client_prefixes(), &flow_prefix_rows, &tables, "flows").unwrap();
    let iso = flowatlas_health::publish::iso_time;
    let (from, to) = (iso(incident.start - 3 * 3600), iso(incident.end + 3600));
    let range = ["--from", &from[..16], "--to", &to[..16]];
    let data = path(&tables);
    flowatlas_ok(&[&["health", "--data", &data][..], &range[..]].concat());
    let page = base.join("page.html");
    let page_text = path(&page);
    flowatlas_ok(
        &[
            &["report", "--data", &data, "--out", &page_text][..],
            &range[..],
        ]
        .concat(),
    );

    // What the page must say: the range's merged histograms per city-network, read back here.
    let (range_from, range_to) = (incident.start - 3 * 3600, incident.end + 3600);
    let mut merged: std::collections::HashMap<String, RttHistogram> = Default::default();
    let mut slow_label = None;
    for row in read_city_network_performance(&tables, Some(range_from), Some(range_to)).unwrap() {
        assert_eq!(row.rtt_source, RttSource::TcpSrtt);
        let label = flowatlas_health::CityNetwork {
            account_id: row.location.account_id.clone(),
            region: row.location.region.clone(),
            client: row.client.clone(),
        }
        .label();
        if CityNetworkKey::of(&row.client).to_string() == incident.places[0] {
            slow_label = Some(label.clone());
        }
        *merged.entry(label).or_default() += &row.performance.rtt;
    }
    let slow_label = slow_label.expect("the incident's city-network was measured");

    let mut browser = Browser::launch(&base.join("browser"));
    let url = browser.open(&page);
    let found = browser.evaluate(
        r##"({
            sources: Array.from(document.querySelectorAll("#performance div.rtt")).map((table) => table.dataset.source),
            rows: Array.from(document.querySelectorAll("#performance div.rtt tbody tr")).map((row) =>
                [row.cells[0].textContent, parseFloat(row.cells[1].dataset.value), parseFloat(row.cells[2].dataset.value), parseFloat(row.cells[3].dataset.value)]),
            performanceLines: document.querySelectorAll("#overview svg.chart polyline.performance").length,
            events: Array.from(document.querySelectorAll("#events article.event h3")).map((heading) => heading.textContent),
            footer: document.querySelector("footer").textContent
        })"##,
    );
    assert_eq!(found["sources"], json!(["tcp_srtt"]), "{found}");
    let rows = found["rows"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        merged.len().min(flowatlas_report::TOP_N),
        "{found}"
    );
    // Each row at its merged histogram's percentiles; the incident's city-network judged
    // degraded at its worst, the others scored.
    let close =
        |a: &Value, b: Option<f64>| (a.as_f64().unwrap() - b.unwrap() / 1000.0).abs() <= 1e-3;
    for row in rows {
        let histogram = &merged[row[0].as_str().unwrap()];
        assert!(
            close(&row[1], histogram.quantile(0.5)) && close(&row[2], histogram.quantile(0.9)),
            "{row}"
        );
        let score = row[3].as_f64().unwrap();
        if row[0] == slow_label.as_str() {
            assert!(score <= 60.0, "{row}");
        } else {
            assert!((0.0..=100.0).contains(&score), "{row}");
        }
    }
    assert!(
        rows.iter().any(|row| row[0] == slow_label.as_str()),
        "{slow_label} in {found}"
    );
    assert!(found["performanceLines"].as_u64().unwrap() >= 1, "{found}");
    let events = found["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|heading| heading.as_str().unwrap().contains("LOCAL_PERFORMANCE")),
        "{found}"
    );
    let footer = found["footer"].as_str().unwrap();
    assert!(
        footer.contains("tcp_srtt")
            && footer.contains("tls_handshake")
            && !footer.contains("not shown"),
        "{footer}"
    );
    browser.screenshot(&artifact("report-performance.png"));
    assert!(browser.errors().is_empty(), "{:?}", browser.errors());
    assert_eq!(browser.other_requests(&url), Vec::<String>::new());
    drop(browser);
    std::fs::remove_dir_all(&base).unwrap();
}

/// Runs `flowatlas` against the S3 server and returns its stdout; fails unless it exits 0.
fn flowatlas_on_s3(s3: &flowatlas_testkit::S3Server, args: &[&str]) -> Vec<u8> {
    let env = [
        ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
    ];
    flowatlas_ok_with(args, &env)
}

/// `report` and `health` on `--data s3://…` (the Lambda's destination, in moto's S3 server)
/// give what they give on the same tables in a folder: the same page, byte for byte (the
/// report has no clock), for the whole data and for a range; the same events; and `health`
/// puts the health tables of the hours it assessed back into the bucket.
#[test]
fn reports_and_health_of_tables_in_s3_match_the_local_ones() {
    const BUCKET: &str = "flowatlas-report-tables";
    let base = scratch("report-s3");
    let dir = base.join("demo");
    flowatlas_ok(&["demo", "--dir", dir.to_str().unwrap()]);
    let tables = dir.join("tables");
    let s3 = flowatlas_testkit::S3Server::start(&[BUCKET]);
    for path in flowatlas_testkit::files_under(&tables) {
        let relative = path.strip_prefix(&tables).unwrap().to_string_lossy();
        s3.put(
            BUCKET,
            &format!("tables/{relative}"),
            std::fs::read(&path).unwrap(),
        );
        if relative.starts_with("city_networks/") || relative.starts_with("client_prefixes/") {
            s3.put(
                BUCKET,
                &format!("rollups/{relative}"),
                std::fs::read(&path).unwrap(),
            );
        }
    }

    let ranges: [&[&str]; 2] = [
        &[],
        &["--from", "2026-06-01T13:00", "--to", "2026-06-01T16:00"],
    ];
    let s3_tables = format!("s3://{BUCKET}/tables/");
    for range in ranges {
        let local_page = base.join("local.html");
        let s3_page = base.join("s3.html");
        let local_args = [&["report", "--data", tables.to_str().unwrap()], range].concat();
        flowatlas_ok(&[&local_args[..], &["--out", local_page.to_str().unwrap()]].concat());
        let s3_args = [&["report", "--data", s3_tables.as_str()], range].concat();
        flowatlas_on_s3(
            &s3,
            &[&s3_args[..], &["--out", s3_page.to_str().unwrap()]].concat(),
        );
        let (local, remote) = (
            std::fs::read_to_string(&local_page).unwrap(),
            std::fs::read_to_string(&s3_page).unwrap(),
        );
        assert!(local.contains("LOCAL_AVAILABILITY"), "{range:?}");
        assert!(local == remote, "the pages differ for {range:?}");
    }

    // The page from S3 in the browser: circles, the outage, nothing fetched.
    let mut browser = Browser::launch(&base.join("browser"));
    let url = browser.open(&base.join("s3.html"));
    let found = browser.evaluate(
        r##"({
            circles: document.querySelectorAll("svg.world circle.cn").length,
            events: document.querySelectorAll("#events article.event").length
        })"##,
    );
    assert!(found["circles"].as_u64().unwrap() > 10, "{found}");
    assert!(found["events"].as_u64().unwrap() >= 1, "{found}");
    assert!(browser.errors().is_empty(), "{:?}", browser.errors());
    assert_eq!(browser.other_requests(&url), Vec::<String>::new());
    drop(browser);

    // Health over the rollups alone in S3, as over the folder; its tables land in the bucket.
    let range = [
        "--from",
        "2026-06-01T14:00",
        "--to",
        "2026-06-01T16:00",
        "--json",
    ];
    let local = flowatlas_ok(
        &[
            &["health", "--no-write", "--data", tables.to_str().unwrap()][..],
            &range,
        ]
        .concat(),
    );
    let s3_rollups = format!("s3://{BUCKET}/rollups");
    let remote = flowatlas_on_s3(
        &s3,
        &[&["health", "--data", s3_rollups.as_str()][..], &range].concat(),
    );
    let events = String::from_utf8(remote).unwrap();
    assert!(events.contains("LOCAL_AVAILABILITY"), "{events}");
    assert_eq!(String::from_utf8(local).unwrap(), events);
    let keys = s3.keys(BUCKET);
    for key in [
        "rollups/city_network_health/dt=2026-06-01/hour=14/flowatlas-health.parquet",
        "rollups/city_network_health/dt=2026-06-01/hour=15/flowatlas-health.parquet",
        "rollups/health_events/dt=2026-06-01/hour=14/flowatlas-health.parquet",
    ] {
        assert!(
            keys.iter().any(|found| found == key),
            "{key} not in {keys:#?}"
        );
    }
    std::fs::remove_dir_all(&base).unwrap();
}

use super::*;
use std::time::Duration;

fn ok(file: Option<&str>, flags: &[&str]) -> Settings {
    match load_with(file, flags) {
        Ok(s) => s,
        Err(e) => panic!("{e:?}"),
    }
}

fn config_error(file: &str) -> String {
    match load_with(Some(file), &[]) {
        Err(Failure::Config(e)) => e,
        Err(e) => panic!("not a config error: {e:?}"),
        Ok(_) => panic!("accepted: {file}"),
    }
}

#[test]
fn the_file_fills_what_flags_leave_and_flags_win() {
    let file = r#"
        max_connections = 500
        idle_timeout = "30s"
        max_message_size = "64KiB"
        allow_origin = ["https://a.example", "https://b.example"]
        [route.pubsub]
        backpressure = "64KiB"
        slow_consumer = "close"
        [route.echo]
        max_message_size = "4KiB"
    "#;
    let s = ok(Some(file), &["--max-connections", "700"]);
    assert_eq!(s.args.max_connections, 700, "a flag beats the file");
    assert_eq!(s.args.idle_timeout, Duration::from_secs(30));
    assert_eq!(s.args.max_message_size, 64 << 10);
    assert_eq!(s.args.allow_origin.len(), 2);
    assert_eq!(s.args.pubsub_backpressure, 64 << 10);
    assert_eq!(s.args.pubsub_slow_consumer, ringws::SlowConsumer::Close);
    assert_eq!(s.args.echo_max_message_size, Some(4 << 10));
    assert_eq!(s.args.max_frame_size, 16 << 20, "untouched: the default");
    let report = &s.report;
    assert!(report.contains("max_connections = 700  # flag\n"), "{report}");
    assert!(report.contains("idle_timeout = \"30s\"  # file\n"), "{report}");
    assert!(report.contains("route.pubsub.slow_consumer = \"close\"  # file\n"), "{report}");
    assert!(report.contains("max_frame_size = \"16MiB\"  # default\n"), "{report}");
    assert!(
        report.contains("allow_origin = [\"https://a.example\", \"https://b.example\"]  # file")
    );
}

#[test]
fn an_unknown_key_is_an_error_naming_it() {
    let e = config_error("max_conections = 5\n");
    assert!(e.contains("unknown key `max_conections`"), "{e}");
    let e = config_error("[route.echo]\nbackpresure = \"1MiB\"\n");
    assert!(e.contains("unknown key `route.echo.backpresure`"), "{e}");
    let e = config_error("config = \"other.toml\"\n");
    assert!(e.contains("unknown key `config`"), "{e}");
}

#[test]
fn a_bad_value_is_an_error_naming_its_key() {
    let e = config_error("idle_timeout = \"soon\"\n");
    assert!(e.contains("`idle_timeout`") && e.contains("soon"), "{e}");
    let e = config_error("[route.pubsub]\nslow_consumer = \"explode\"\n");
    assert!(e.contains("`route.pubsub.slow_consumer`"), "{e}");
    let e = config_error("max_connections = \"many\"\n");
    assert!(e.contains("`max_connections`"), "{e}");
    let e = config_error("addr = [\n");
    assert!(e.contains("ringws-settings"), "names the file: {e}");
}

#[test]
fn no_file_means_flags_and_defaults() {
    let s = ok(None, &["--idle-timeout", "0"]);
    assert_eq!(s.args.idle_timeout, Duration::ZERO);
    assert!(s.report.contains("idle_timeout = 0  # flag\n"), "{}", s.report);
    assert!(s.report.contains("addr = \"127.0.0.1:9001\"  # default\n"), "{}", s.report);
}

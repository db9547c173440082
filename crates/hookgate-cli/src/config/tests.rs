use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Method;

use hookgate_events::Sender;
use hookgate_verify::Scheme;

use super::queue::Endpoint;
use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "hookgate.toml", Path::new("/etc/hookgate"))
        .map_err(ConfigErrors::into_first)
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

const MINIMAL: &str = r#"
[action]
forward = "http://127.0.0.1:9000/events"

[sources.clarife]
scheme = "clarife"
secret_env = "HOOKGATE_SECRET_CLARIFE"
"#;

#[test]
fn the_sample_passes_validation_and_builds_every_verifier() {
    let config = parse(SAMPLE).unwrap();
    assert!(!config.sources.is_empty());
    // The tour shows the admin listener, on loopback with the defaults.
    let admin = config.admin.as_ref().expect("the sample's [admin] table");
    assert_eq!(admin.listen.to_string(), "127.0.0.1:8081");
    assert_eq!(admin.recent, hookgate_admin::DEFAULT_RECENT);
    assert_eq!(admin.body_limit, hookgate_admin::DEFAULT_BODY_LIMIT);
    let mut pairs: Vec<(String, String)> = Vec::new();
    for source in &config.sources {
        for name in &source.secrets.env {
            let secret = match source.scheme {
                Scheme::Standard | Scheme::Svix => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                _ => "sample-secret",
            };
            pairs.push((name.clone(), secret.to_owned()));
        }
    }
    let map: HashMap<String, String> = pairs.into_iter().collect();
    let env = move |name: &str| map.get(name).cloned();
    for source in &config.sources {
        let verifier = source.verifier(&env).unwrap();
        assert_eq!(verifier.scheme(), source.scheme);
    }
}

#[test]
fn defaults_fill_in_what_is_not_written() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.server.listen, DEFAULT_LISTEN.parse().unwrap());
    assert_eq!(config.server.log_format, LogFormat::Text);
    assert_eq!(
        config.queue.backend,
        QueueBackend::Sqlite {
            path: PathBuf::from("/etc/hookgate/hookgate-queue.db"),
            durability: DurabilityName::Fsync
        }
    );
    let source = &config.sources[0];
    assert_eq!(source.path, "/hooks/clarife");
    assert_eq!(source.sender, Some(Sender::Clarife));
    assert_eq!(source.methods, vec![Method::POST]);
    assert!(matches!(source.action, Action::Forward { .. }));
    assert!(matches!(
        config.retry.schedule,
        ScheduleConfig::Exponential { jitter: true, .. }
    ));
}

#[test]
fn server_limits_and_client_ranges() {
    let defaults = parse(MINIMAL).unwrap();
    assert_eq!(defaults.server.header_timeout, Duration::from_secs(10));
    assert_eq!(defaults.server.keep_alive, Duration::from_secs(5));
    assert_eq!(defaults.server.max_connections, 1024);
    assert!(defaults.server.trusted_proxies.is_empty());
    assert_eq!(defaults.sources[0].allow_ips, None);

    let text = format!(
        "[server]\nheader_timeout = \"2s\"\nkeep_alive = \"0s\"\nmax_connections = 64\n\
         trusted_proxies = [\"10.0.0.0/8\", \"fd00::1\"]\n{MINIMAL}\
         allow_ips = [\"192.30.252.0/22\", \"2001:db8::/32\"]\n"
    );
    let config = parse(&text).unwrap();
    assert_eq!(config.server.header_timeout, Duration::from_secs(2));
    assert_eq!(config.server.keep_alive, Duration::ZERO);
    assert_eq!(config.server.max_connections, 64);
    let written: Vec<String> = config
        .server
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(written, ["10.0.0.0/8", "fd00::1/128"]);
    let allowed = config.sources[0].allow_ips.as_ref().unwrap();
    assert_eq!(allowed.len(), 2);
    assert!(allowed[0].contains("192.30.253.4".parse().unwrap()));

    for (text, message, line) in [
        (
            format!("[server]\nheader_timeout = \"0s\"\n{MINIMAL}"),
            "hookgate.toml:2:18: server: `header_timeout` must be above zero",
            2,
        ),
        (
            format!("[server]\nmax_connections = 0\n{MINIMAL}"),
            "hookgate.toml:2:19: server: `max_connections` must be at least 1",
            2,
        ),
        (
            format!("[server]\ntrusted_proxies = [\"10.0.0.1/8\"]\n{MINIMAL}"),
            "hookgate.toml:2:20: server: `trusted_proxies`: \"10.0.0.1/8\" has bits set past its prefix; the range is 10.0.0.0/8",
            2,
        ),
        (
            format!("{MINIMAL}allow_ips = [\"github\"]\n"),
            "sources.clarife: `allow_ips`: \"github\" is not an IP address or CIDR range",
            8,
        ),
        (
            format!("{MINIMAL}allow_ips = []\n"),
            "sources.clarife: `allow_ips` lists no ranges",
            8,
        ),
    ] {
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains(message), "{err}");
        assert!(err.starts_with(&format!("hookgate.toml:{line}:")), "{err}");
    }
}

#[test]
fn queue_spellings() {
    let memory = parse(&format!("queue = \"memory\"\n{MINIMAL}")).unwrap();
    assert_eq!(memory.queue.backend, QueueBackend::Memory);
    let table = parse(&format!(
        "{MINIMAL}\n[queue]\nsqlite = \"/var/lib/q.db\"\ndurability = \"process-crash\"\ndedup_window = \"1h\"\n"
    ))
    .unwrap();
    assert_eq!(
        table.queue.backend,
        QueueBackend::Sqlite {
            path: PathBuf::from("/var/lib/q.db"),
            durability: DurabilityName::ProcessCrash
        }
    );
    assert_eq!(table.queue.dedup_window, Some(Duration::from_secs(3600)));
    let both = parse(&format!(
        "{MINIMAL}\n[queue]\nsqlite = \"q.db\"\nmemory = true\n"
    ))
    .unwrap_err();
    assert!(both.to_string().contains("not both"), "{both}");
}

#[test]
fn max_backlog_age_applies_to_any_queue_and_is_more_than_zero() {
    for backend in [
        "sqlite = \"q.db\"",
        "memory = true",
        "redis = \"redis://h\"",
    ] {
        let config = parse(&format!(
            "{MINIMAL}\n[queue]\n{backend}\nmax_backlog_age = \"10m\"\n"
        ))
        .unwrap();
        assert_eq!(config.queue.max_backlog_age, Some(Duration::from_secs(600)));
    }
    assert_eq!(parse(MINIMAL).unwrap().queue.max_backlog_age, None);
    let zero = parse(&format!("{MINIMAL}\n[queue]\nmax_backlog_age = \"0s\"\n")).unwrap_err();
    assert!(zero.to_string().contains("more than 0s"), "{zero}");
}

#[test]
fn workers_run_on_a_thread_of_their_own_unless_told_otherwise() {
    assert_eq!(parse(MINIMAL).unwrap().workers.threads, 1);
    for threads in [0, 4] {
        let config = parse(&format!("[workers]\nthreads = {threads}\n{MINIMAL}")).unwrap();
        assert_eq!(config.workers.threads, threads);
    }
    let many = parse(&format!("[workers]\nthreads = 65\n{MINIMAL}")).unwrap_err();
    assert!(many.to_string().contains("at most 64"), "{many}");
}

#[test]
fn distributed_queue_spellings() {
    let redis = parse(&format!(
        "{MINIMAL}\n[queue]\nredis = \"redis://127.0.0.1:6379\"\nprefix = \"{{orders}}\"\ndedup_window = \"2h\"\n"
    ))
    .unwrap();
    assert_eq!(
        redis.queue.backend,
        QueueBackend::Redis {
            endpoint: Endpoint::Url("redis://127.0.0.1:6379".to_owned()),
            prefix: Some("{orders}".to_owned()),
            durability: DurabilityName::Fsync,
        }
    );
    assert_eq!(redis.queue.dedup_window, Some(Duration::from_secs(7200)));
    let inline = parse(&format!(
        "queue = {{ nats = \"nats://127.0.0.1:4222\", stream = \"ORDERS\" }}\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(
        inline.queue.backend,
        QueueBackend::Nats {
            endpoint: Endpoint::Url("nats://127.0.0.1:4222".to_owned()),
            stream: Some("ORDERS".to_owned()),
            durability: DurabilityName::ProcessCrash,
            replicas: 1,
        }
    );
    let replicated = parse(&format!(
        "{MINIMAL}\n[queue]\nnats = \"nats://127.0.0.1:4222\"\nreplicas = 3\ndurability = \"fsync\"\n"
    ))
    .unwrap();
    assert_eq!(
        replicated.queue.backend,
        QueueBackend::Nats {
            endpoint: Endpoint::Url("nats://127.0.0.1:4222".to_owned()),
            stream: None,
            durability: DurabilityName::Fsync,
            replicas: 3,
        }
    );
    let everysec = parse(&format!(
        "{MINIMAL}\n[queue]\nredis = \"redis://h\"\ndurability = \"process-crash\"\n"
    ))
    .unwrap();
    assert!(
        matches!(
            everysec.queue.backend,
            QueueBackend::Redis {
                durability: DurabilityName::ProcessCrash,
                ..
            }
        ),
        "{:?}",
        everysec.queue.backend
    );
    let postgres = parse(&format!(
        "{MINIMAL}\n[queue]\npostgres_env = \"DATABASE_URL\"\nschema = \"webhooks\"\ndurability = \"process-crash\"\n"
    ))
    .unwrap();
    assert_eq!(
        postgres.queue.backend,
        QueueBackend::Postgres {
            endpoint: Endpoint::Env("DATABASE_URL".to_owned()),
            schema: Some("webhooks".to_owned()),
            durability: DurabilityName::ProcessCrash,
        }
    );
    let inline = parse(&format!(
        "queue = {{ postgres = \"postgres://hookgate@db/app\" }}\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(
        inline.queue.backend,
        QueueBackend::Postgres {
            endpoint: Endpoint::Url("postgres://hookgate@db/app".to_owned()),
            schema: None,
            durability: DurabilityName::Fsync,
        }
    );
    let from_env = parse(&format!("{MINIMAL}\n[queue]\nredis_env = \"REDIS_URL\"\n")).unwrap();
    let QueueBackend::Redis {
        endpoint, prefix, ..
    } = &from_env.queue.backend
    else {
        panic!("{:?}", from_env.queue.backend);
    };
    assert_eq!(prefix, &None);
    let env = |name: &str| (name == "REDIS_URL").then(|| "redis://10.0.0.1".to_owned());
    assert_eq!(endpoint.resolve(&env).unwrap(), "redis://10.0.0.1");
    let unset = endpoint.resolve(&|_: &str| None).unwrap_err();
    assert!(unset.contains("REDIS_URL is not set"), "{unset}");
}

#[test]
fn distributed_queue_mistakes_name_the_key() {
    let cases = [
        (
            "[queue]\nredis = \"redis://h\"\nnats = \"nats://h\"\n",
            "not both `redis` and `nats`",
        ),
        (
            "[queue]\nsqlite = \"q.db\"\nredis_env = \"URL\"\n",
            "not both `sqlite` and `redis_env`",
        ),
        (
            "[queue]\nmemory = true\ndurability = \"fsync\"\n",
            "`durability` applies to the durable queues (sqlite, redis, nats, postgres) only",
        ),
        (
            "[queue]\nredis = \"redis://h\"\nreplicas = 3\n",
            "`replicas` applies to the nats queue only",
        ),
        (
            "[queue]\nnats = \"nats://h\"\nreplicas = 7\n",
            "`replicas` must be from 1 to 5",
        ),
        (
            "[queue]\nnats = \"nats://h\"\ncapacity = 10\n",
            "`capacity` applies to the sqlite and memory queues only",
        ),
        (
            "[queue]\nnats = \"nats://h\"\nprefix = \"p\"\n",
            "`prefix` applies to the redis queue only",
        ),
        (
            "[queue]\nredis = \"redis://h\"\nstream = \"S\"\n",
            "`stream` applies to the nats queue only",
        ),
        (
            "[queue]\nredis = \"redis://h\"\nschema = \"s\"\n",
            "`schema` applies to the postgres queue only",
        ),
        (
            "[queue]\npostgres = \"postgres://h/db\"\nnats_env = \"URL\"\n",
            "not both `nats_env` and `postgres`",
        ),
        ("[queue]\nredis = \"localhost\"\n", "invalid server URL"),
        ("[queue]\nnats_env = \"\"\n", "empty server address"),
    ];
    for (queue, expected) in cases {
        let err = parse(&format!("{MINIMAL}\n{queue}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{queue:?}: {err}");
        // The error names the line of the second key of the [queue] table or later.
        let line = MINIMAL.lines().count() + 3;
        assert!(
            err.contains(&format!(":{line}:")) || err.contains(&format!(":{}:", line + 1)),
            "{queue:?}: {err}"
        );
    }
}

#[test]
fn errors_name_the_line_and_column() {
    let cases = [
        ("scheme = \"clarife\"", "scheme = \"md5\"", "unknown scheme"),
        (
            "[action]",
            "[action]\ntimeout = \"fast\"",
            "invalid duration",
        ),
        ("[action]", "[action]\nretries = 3", "unknown field"),
        (
            "forward = \"http://127.0.0.1:9000/events\"",
            "forward = \"https://example.com/\"",
            "use http://",
        ),
    ];
    for (from, to, expected) in cases {
        let text = MINIMAL.replacen(from, to, 1);
        let err = parse(&text).unwrap_err();
        let ConfigError::At { line, file, .. } = &err else {
            panic!("{err} has no position");
        };
        assert_eq!(file, "hookgate.toml");
        let wanted_line = text
            .lines()
            .position(|l| to.lines().last().is_some_and(|last| l == last))
            .unwrap()
            + 1;
        assert_eq!(*line, wanted_line, "{err}");
        assert!(err.to_string().contains(expected), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("hookgate.toml:{wanted_line}:")),
            "{err}"
        );
    }
}

#[test]
fn admission_control_per_source() {
    let config = parse(SAMPLE).unwrap();
    let claravine = config
        .sources
        .iter()
        .find(|s| s.name == "claravine")
        .unwrap();
    assert_eq!(claravine.max_in_flight, Some(64));
    let rate = claravine.rate_limit.unwrap();
    assert_eq!(
        (rate.count(), rate.period(), rate.burst()),
        (100, Duration::from_secs(1), 200)
    );
    let minimal = parse(MINIMAL).unwrap();
    assert_eq!(minimal.sources[0].max_in_flight, None);
    assert_eq!(minimal.sources[0].rate_limit, None);
    let rate_only = parse(&format!("{MINIMAL}rate = \"5/min\"\n")).unwrap();
    assert_eq!(rate_only.sources[0].rate_limit.unwrap().burst(), 5);

    // Each mistake is placed on its key.
    for (added, expected) in [
        ("rate = \"fast\"", "rate \"fast\" is not N/s, N/min or N/h"),
        (
            "rate = \"0/s\"",
            "rate limit count must be greater than zero",
        ),
        ("burst = 10", "`burst` needs a `rate`"),
        (
            "rate = \"1/s\"\nburst = 0",
            "burst must be greater than zero",
        ),
        ("max_in_flight = 0", "`max_in_flight` must be at least 1"),
    ] {
        let text = format!("{MINIMAL}{added}\n");
        let err = parse(&text).unwrap_err();
        let ConfigError::At { line, .. } = &err else {
            panic!("{err} has no position");
        };
        assert_eq!(*line, text.lines().count(), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn replay_guard_per_source() {
    use hookgate_receive::ReplayGuard;

    let minimal = parse(MINIMAL).unwrap();
    assert_eq!(minimal.sources[0].replay_guard, ReplayGuard::Id);
    let body = parse(&format!("{MINIMAL}replay_guard = \"body\"\n")).unwrap();
    assert_eq!(body.sources[0].replay_guard, ReplayGuard::Body);
    let text = format!("{MINIMAL}replay_guard = \"hash\"\n");
    let err = parse(&text).unwrap_err();
    let ConfigError::At { line, .. } = &err else {
        panic!("{err} has no position");
    };
    assert_eq!(*line, text.lines().count(), "{err}");
    assert!(
        err.to_string()
            .contains("`replay_guard` is \"hash\"; use \"id\""),
        "{err}"
    );
}

#[test]
fn secrets_come_from_the_environment() {
    let config = parse(MINIMAL).unwrap();
    let source = &config.sources[0];
    let missing = source.verifier(&env_of(&[])).unwrap_err();
    assert!(
        missing
            .to_string()
            .contains("HOOKGATE_SECRET_CLARIFE is not set"),
        "{missing}"
    );
    assert!(!missing.to_string().contains("whsec"));
    let verifier = source
        .verifier(&env_of(&[("HOOKGATE_SECRET_CLARIFE", "s3cret")]))
        .unwrap();
    assert_eq!(verifier.scheme(), Scheme::Clarife);
}

#[test]
fn an_inline_secret_must_say_it_is_for_development() {
    let inline = MINIMAL.replace(
        "secret_env = \"HOOKGATE_SECRET_CLARIFE\"",
        "secret = \"s3cret\"",
    );
    assert!(
        parse(&inline)
            .unwrap_err()
            .to_string()
            .contains("unknown field `secret`")
    );

    let dev = MINIMAL.replace(
        "secret_env = \"HOOKGATE_SECRET_CLARIFE\"",
        "secret_env = \"HOOKGATE_SECRET_CLARIFE\"\ninsecure_dev_secret = \"dev\"",
    );
    let config = parse(&dev).unwrap();
    let source = &config.sources[0];
    assert!(source.uses_dev_secret(&env_of(&[])));
    source.verifier(&env_of(&[])).unwrap();
    assert!(!source.uses_dev_secret(&env_of(&[("HOOKGATE_SECRET_CLARIFE", "real")])));
    assert!(!format!("{:?}", source.secrets).contains("dev\""));
}

#[test]
fn sources_need_a_secret_and_an_action() {
    let no_secret = MINIMAL.replace("secret_env = \"HOOKGATE_SECRET_CLARIFE\"", "");
    assert!(
        parse(&no_secret)
            .unwrap_err()
            .to_string()
            .contains("needs `secret_env")
    );
    let no_action = MINIMAL.replace("[action]\nforward = \"http://127.0.0.1:9000/events\"", "");
    assert!(
        parse(&no_action)
            .unwrap_err()
            .to_string()
            .contains("no action")
    );
    let both = MINIMAL.replace(
        "forward = \"http://127.0.0.1:9000/events\"",
        "forward = \"http://127.0.0.1:9000/events\"\ncommand = [\"cat\"]",
    );
    assert!(parse(&both).unwrap_err().to_string().contains("not both"));
    let none = parse("[action]\nforward = \"http://x/\"\n").unwrap_err();
    assert!(none.to_string().contains("no sources"), "{none}");
}

#[test]
fn scheme_options_are_checked_against_the_scheme() {
    let wrong = MINIMAL.replace(
        "scheme = \"clarife\"",
        "scheme = \"clarife\"\nheader = \"x-token\"",
    );
    let err = parse(&wrong).unwrap_err();
    assert!(err.to_string().contains("header"), "{err}");
    let custom = MINIMAL.replace(
        "scheme = \"clarife\"",
        "scheme = \"custom\"\nheader = \"x-signature\"\nprefix = \"sha256=\"\nencoding = \"base64\"\nsigned_content = \"{timestamp}.{body}\"\ntimestamp_header = \"x-timestamp\"",
    );
    let config = parse(&custom).unwrap();
    let verifier = config.sources[0]
        .verifier(&env_of(&[("HOOKGATE_SECRET_CLARIFE", "k")]))
        .unwrap();
    assert_eq!(verifier.scheme(), Scheme::Custom);
}

#[test]
fn retry_schedules() {
    let clarife = parse(&format!("{MINIMAL}\n[retry]\nschedule = \"clarife\"\n")).unwrap();
    assert_eq!(
        clarife.retry.schedule,
        ScheduleConfig::Fixed(vec![
            Duration::from_secs(1),
            Duration::from_secs(10),
            Duration::from_secs(60)
        ])
    );
    let fixed = parse(&format!(
        "{MINIMAL}\n[retry]\nschedule = [\"50ms\", \"100ms\"]\nmax_attempts = 3\n"
    ))
    .unwrap();
    assert_eq!(
        fixed.retry.schedule,
        ScheduleConfig::Fixed(vec![Duration::from_millis(50), Duration::from_millis(100)])
    );
    assert_eq!(fixed.retry.max_attempts, Some(3));
    let conflicting = parse(&format!(
        "{MINIMAL}\n[retry]\nschedule = \"svix\"\nbase = \"1s\"\n"
    ))
    .unwrap_err();
    assert!(
        conflicting
            .to_string()
            .contains("exponential schedule only")
    );
}

#[test]
fn events_filter_needs_a_payload_format() {
    let clarity = MINIMAL.replace(
        "scheme = \"clarife\"",
        "scheme = \"clarity\"\nevents = [\"claim.*\"]",
    );
    assert!(parse(&clarity).unwrap_err().to_string().contains("sender"));
    let with_sender = clarity.replace("events =", "sender = \"claimable\"\nevents =");
    let config = parse(&with_sender).unwrap();
    assert_eq!(config.sources[0].events.len(), 1);
    let bad = MINIMAL.replace(
        "scheme = \"clarife\"",
        "scheme = \"clarife\"\nevents = [\"a..b\"]",
    );
    assert!(matches!(
        parse(&bad).unwrap_err(),
        ConfigError::At { line: 7, .. }
    ));
}

/// Every source built with the secrets of `env`, then the receiver: where
/// hookgate-receive's own checks run.
fn build(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    let sources = config
        .sources
        .iter()
        .map(|source| source.build(env))
        .collect::<Result<Vec<_>, _>>()?;
    config
        .receiver(
            sources,
            std::sync::Arc::new(hookgate_queue::MemoryQueue::new()),
            None,
        )
        .map(drop)
}

#[test]
fn two_sources_cannot_share_a_path() {
    let text = format!(
        "{MINIMAL}\n[sources.other]\nscheme = \"github\"\nsecret_env = \"GH\"\npath = \"/hooks/clarife\"\n"
    );
    let config = parse(&text).unwrap();
    let env = env_of(&[("HOOKGATE_SECRET_CLARIFE", "k"), ("GH", "k")]);
    let err = build(&config, &env).unwrap_err();
    // hookgate-receive's message, on the line of the second `path`.
    assert!(err.to_string().contains("used by two sources"), "{err}");
    assert!(
        err.to_string()
            .starts_with("hookgate.toml:12:8: sources.other: "),
        "{err}"
    );
}

#[test]
fn the_receiving_library_s_errors_are_placed_on_their_key() {
    let env = env_of(&[("HOOKGATE_SECRET_CLARIFE", "k")]);
    for (added, place, expected) in [
        ("path = \"hooks/x\"", "8:8", "does not start with '/'"),
        (
            "status = 201",
            "8:10",
            "success status 201 is not one of 200, 202, 204",
        ),
        (
            "body_limit = 0",
            "8:14",
            "body limit must be greater than zero",
        ),
        (
            "ack_budget = \"0s\"",
            "8:14",
            "ack budget must be greater than zero",
        ),
        (
            "read_timeout = \"0s\"",
            "8:16",
            "read timeout must be greater than zero",
        ),
    ] {
        let config = parse(&format!("{MINIMAL}{added}\n")).unwrap();
        let err = build(&config, &env).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("hookgate.toml:{place}: sources.clarife: ")),
            "{added}: {err}"
        );
        assert!(err.contains(expected), "{added}: {err}");
    }
    // A number that is no HTTP status at all is refused while parsing.
    let err = parse(&format!("{MINIMAL}status = 1000\n")).unwrap_err();
    assert!(
        err.to_string()
            .contains("sources.clarife: status 1000 is not an HTTP status code"),
        "{err}"
    );
    build(&parse(MINIMAL).unwrap(), &env).unwrap();
}

#[test]
fn a_twilio_source_needs_its_public_url() {
    const TWILIO: &str = r#"
[action]
forward = "http://127.0.0.1:9000/events"

[sources.twilio]
scheme = "twilio"
secret_env = "HOOKGATE_SECRET_TWILIO"
"#;
    let env = env_of(&[("HOOKGATE_SECRET_TWILIO", "auth-token")]);
    let err = build(&parse(TWILIO).unwrap(), &env)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("hookgate.toml:5:1: sources.twilio: ") && err.contains("public URL"),
        "{err}"
    );
    let bad = format!("{TWILIO}public_url = \"hooks.example.com\"\n");
    let err = build(&parse(&bad).unwrap(), &env).unwrap_err().to_string();
    assert!(
        err.starts_with("hookgate.toml:8:14: sources.twilio: "),
        "{err}"
    );
    let good = format!("{TWILIO}public_url = \"https://hooks.example.com\"\n");
    build(&parse(&good).unwrap(), &env).unwrap();
}

#[test]
fn retry_base_and_cap_errors_name_their_line() {
    let zero = parse(&format!("{MINIMAL}\n[retry]\nbase = \"0s\"\n")).unwrap_err();
    assert!(matches!(zero, ConfigError::At { line: 10, .. }), "{zero}");
    let below = parse(&format!(
        "{MINIMAL}\n[retry]\nbase = \"10s\"\ncap = \"1s\"\n"
    ))
    .unwrap_err();
    assert!(matches!(below, ConfigError::At { line: 11, .. }), "{below}");
    assert!(
        below.to_string().contains("`cap` at least `base`"),
        "{below}"
    );
}

/// Mistakes are explained with the value written and the form expected,
/// never a Rust type (`expected usize`, `invalid socket address syntax`).
#[test]
fn mistakes_are_explained_in_people_s_words() {
    for (text, expected) in [
        (
            format!("[server]\nlisten = \"localhost:8080\"\n{MINIMAL}"),
            "hookgate.toml:2:10: server: \"localhost:8080\" is not an IP address and a port, such as \"127.0.0.1:8080\"",
        ),
        (
            format!("[server]\nmax_connections = -5\n{MINIMAL}"),
            "hookgate.toml:2:19: server: -5 is below zero",
        ),
        (
            format!("[workers]\nconcurrency = \"8\"\n{MINIMAL}"),
            "hookgate.toml:2:15: workers: \"8\" is text; write the number without quotes: 8",
        ),
        (
            format!("[retry]\nmax_attempts = 1.5\n{MINIMAL}"),
            "hookgate.toml:2:16: retry: 1.5 is not a whole number",
        ),
        (
            format!("{MINIMAL}status = 70000\n"),
            "hookgate.toml:8:10: sources.clarife: 70000 is too large; the most is 65535",
        ),
        (
            format!("{MINIMAL}burst = -1\n"),
            "hookgate.toml:8:9: sources.clarife: -1 is below zero",
        ),
        (
            format!("{MINIMAL}body_limit = \"1MB\"\n"),
            "expected a whole number from 0 to",
        ),
        (
            format!("{MINIMAL}read_timeout = 30\n"),
            "hookgate.toml:8:16: sources.clarife: 30 has no unit; write it as text with one, such as \"30s\"",
        ),
    ] {
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        for rust in [
            "usize",
            "u16",
            "u32",
            "u64",
            "socket address syntax",
            "invalid type",
        ] {
            assert!(!err.contains(rust), "{err}");
        }
    }
}

#[test]
fn meta_s_verify_token_comes_from_the_environment() {
    let text = r#"
[action]
forward = "http://127.0.0.1:9000/events"

[sources.meta]
scheme = "meta"
secret_env = "HOOKGATE_SECRET_META"
verify_token_env = "HOOKGATE_VERIFY_TOKEN_META"
"#;
    let config = parse(text).unwrap();
    let source = &config.sources[0];
    let missing = source
        .build(&env_of(&[("HOOKGATE_SECRET_META", "app-secret")]))
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("HOOKGATE_VERIFY_TOKEN_META is not set"),
        "{missing}"
    );
    let built = source
        .build(&env_of(&[
            ("HOOKGATE_SECRET_META", "app-secret"),
            ("HOOKGATE_VERIFY_TOKEN_META", "verify-me"),
        ]))
        .unwrap();
    assert_eq!(built.handshake().unwrap().name(), "meta");
    assert!(built.methods().contains(&Method::POST));

    // Only Meta has a verify token.
    let wrong = text.replace("scheme = \"meta\"", "scheme = \"github\"");
    let err = parse(&wrong).unwrap_err().to_string();
    assert!(
        err.contains("`verify_token_env` is for the meta scheme"),
        "{err}"
    );
    assert!(err.starts_with("hookgate.toml:8:"), "{err}");
}
#[test]
fn storage_budgets_of_the_sqlite_queue() {
    let config = parse(&format!(
        "{MINIMAL}\n[queue]\nmax_bytes = \"10GiB\"\nmin_free_disk = \"5%\"\nwal_limit = \"16MiB\"\n"
    ))
    .unwrap();
    assert_eq!(config.queue.max_bytes, Some(10 << 30));
    assert_eq!(
        config.queue.min_free_disk,
        Some(crate::size::FreeDisk::Percent(5.0))
    );
    assert_eq!(config.queue.wal_limit, Some(16 << 20));
    let config = parse(&format!(
        "{MINIMAL}\n[queue]\nmax_bytes = 1000000\nmin_free_disk = \"2GB\"\n"
    ))
    .unwrap();
    assert_eq!(config.queue.max_bytes, Some(1_000_000));
    assert_eq!(
        config.queue.min_free_disk,
        Some(crate::size::FreeDisk::Bytes(2_000_000_000))
    );
    let nats = parse(&format!(
        "{MINIMAL}\n[queue]\nnats = \"nats://h:4222\"\nmax_bytes = \"1GiB\"\n"
    ))
    .unwrap();
    assert_eq!(nats.queue.max_bytes, Some(1 << 30));

    for (queue, expected) in [
        (
            "[queue]\nredis = \"redis://h\"\nmax_bytes = \"1GB\"\n",
            "`max_bytes` applies to the sqlite and nats queues (Redis is bounded by its maxmemory) only",
        ),
        (
            "[queue]\nqueue = 1\nmin_free_disk = \"5%\"\n",
            "unknown field",
        ),
        ("[queue]\nmax_bytes = \"1 gigabyte\"\n", "invalid size"),
        ("[queue]\nmin_free_disk = \"120%\"\n", "invalid percentage"),
        (
            "[queue]\nmax_bytes = 0\n",
            "`max_bytes` must be at least 1 byte",
        ),
        (
            "[queue]\nwal_limit = \"64KiB\"\n",
            "`wal_limit` must be at least 1MiB",
        ),
    ] {
        let err = parse(&format!("{MINIMAL}\n{queue}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{queue:?}: {err}");
    }
}

//! `docs/configuration.md` cannot drift from the code: its tables of presets, environment
//! variables and override keys are rendered here from the crate's own data and must match the
//! document byte for byte. `STRATACACHE_BLESS_DOCS=1 cargo test -p stratacache-factory --test docs`
//! rewrites them after a deliberate change.

#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::PathBuf;

use stratacache_factory::{CacheConfig, ENV_VARS, OVERRIDE_KEYS, Preset};

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md")
}

fn presets_table() -> String {
    let mut t = String::from(
        "| preset | strategy | default TTL (s) | max connections | connect timeout (s) | memory entries | compression threshold | level | AI | monitoring | log level |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for p in Preset::ALL {
        let c = CacheConfig::preset(p);
        let strategy = serde_json::to_value(c.strategy).unwrap();
        writeln!(
            t,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.as_str(),
            strategy.as_str().unwrap(),
            c.default_ttl.as_secs(),
            c.max_connections,
            c.connection_timeout.as_secs(),
            c.memory_cache_size,
            c.compression_threshold,
            c.compression_level,
            if c.enable_ai_cache { "yes" } else { "no" },
            if c.enable_monitoring { "yes" } else { "no" },
            c.log_level.as_str(),
        )
        .unwrap();
    }
    t
}

fn ai_table() -> String {
    let mut t = String::from(
        "| preset | text hash threshold | tiers (small / medium / large) | summarize | sentiment | key_points | questions | qa | max text length |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for p in Preset::ALL {
        let ai = CacheConfig::preset(p).ai;
        let ttl = |op: &str| ai.operation_ttls[op].as_secs();
        let tiers = ai.text_size_tiers;
        writeln!(
            t,
            "| `{}` | {} | {} / {} / {} | {} | {} | {} | {} | {} | {} |",
            p.as_str(),
            ai.text_hash_threshold,
            tiers.small,
            tiers.medium,
            tiers.large,
            ttl("summarize"),
            ttl("sentiment"),
            ttl("key_points"),
            ttl("questions"),
            ttl("qa"),
            ai.max_text_length,
        )
        .unwrap();
    }
    t
}

fn env_table() -> String {
    let mut t = String::from("| variable | accepted | effect |\n|---|---|---|\n");
    for v in ENV_VARS {
        writeln!(t, "| `{}` | {} | {} |", v.name, v.accepted, v.description).unwrap();
    }
    t
}

fn overrides_table() -> String {
    let mut t = String::from("| key | accepted | origin |\n|---|---|---|\n");
    for k in OVERRIDE_KEYS {
        let origin = if k.reference { "reference" } else { "stratacache" };
        writeln!(
            t,
            "| `{}` | {} | {origin} |",
            k.name,
            k.accepted.replace('|', "\\|")
        )
        .unwrap();
    }
    t
}

/// Replaces the text between `<!-- {name}:begin -->` and `<!-- {name}:end -->`.
fn splice(doc: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- {name}:begin -->\n");
    let end = format!("<!-- {name}:end -->");
    let start = doc
        .find(&begin)
        .unwrap_or_else(|| panic!("docs/configuration.md lacks the marker {begin:?}"))
        + begin.len();
    let stop = doc[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("docs/configuration.md lacks the marker {end:?}"))
        + start;
    format!("{}{body}{}", &doc[..start], &doc[stop..])
}

#[test]
fn configuration_doc_matches_the_code() {
    let path = doc_path();
    let doc = std::fs::read_to_string(&path).unwrap();
    let mut expected = doc.clone();
    for (name, body) in [
        ("presets", presets_table()),
        ("ai-presets", ai_table()),
        ("env-vars", env_table()),
        ("override-keys", overrides_table()),
    ] {
        expected = splice(&expected, name, &body);
    }
    if std::env::var_os("STRATACACHE_BLESS_DOCS").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    assert!(
        doc == expected,
        "docs/configuration.md is out of date with the code; run \
         STRATACACHE_BLESS_DOCS=1 cargo test -p stratacache-factory --test docs and review the diff"
    );
}

/// Every `CACHE_*`/`REDIS_*`/`ENABLE_*` variable the document mentions anywhere exists.
#[test]
fn the_doc_mentions_no_variable_the_code_does_not_read() {
    let doc = std::fs::read_to_string(doc_path()).unwrap();
    let known: Vec<&str> = ENV_VARS.iter().map(|v| v.name).collect();
    // Variables read by other parts of stratacache, documented on the same page.
    let elsewhere = [
        "STRATACACHE_TEST_REDIS_URL",
        "STRATACACHE_REQUIRE_REDIS",
        "STRATACACHE_BLESS_DOCS",
    ];
    for word in doc.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')) {
        let candidate = ["CACHE_", "REDIS_", "ENABLE_"]
            .iter()
            .any(|p| word.starts_with(p));
        if candidate && word.len() > 7 && !known.contains(&word) && !elsewhere.contains(&word) {
            panic!("docs/configuration.md mentions {word}, which nothing reads");
        }
    }
}

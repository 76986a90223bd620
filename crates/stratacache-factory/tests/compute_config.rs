//! The compute settings of a `CacheConfig` (`CACHE_COMPUTE_*`, the `compute` override key): what
//! the variables document against what `ComputeConfig` accepts, and how the override merges.
//! Their effect and bad values are in `config.rs` with every other setting.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use stratacache_factory::{CacheConfig, ConfigError, ENV_VARS, Preset};

fn resolve(vars: &[(&str, &str)]) -> Result<CacheConfig, ConfigError> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    CacheConfig::from_env_with(|k| vars.get(k).cloned())
}

/// The `CACHE_COMPUTE_*` variables document what `ComputeConfig::validate` accepts (their ranges'
/// bounds are accepted, values past them refused, naming the setting) and the defaults it has.
#[test]
fn compute_variables_document_the_compute_ranges_and_defaults() {
    let defaults = serde_json::to_value(stratacache_factory::ComputeConfig::default()).unwrap();
    let vars: Vec<_> = ENV_VARS
        .iter()
        .filter(|v| v.name.starts_with("CACHE_COMPUTE_"))
        .collect();
    assert_eq!(vars.len(), 10);
    for var in vars {
        let field = var.name["CACHE_COMPUTE_".len()..].to_ascii_lowercase();
        // "(default X)" at the end of the description is the default.
        let documented = var
            .description
            .rsplit_once("(default ")
            .and_then(|(_, d)| d.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{}: no default in {:?}", var.name, var.description));
        // The freshness policy's settings are nested under `freshness`.
        let (default, nested) = match defaults.get(&field) {
            Some(default) => (default, false),
            None => (&defaults["freshness"][&field], true),
        };
        let same = match default {
            Value::Number(n) => documented.parse::<f64>().ok() == n.as_f64(),
            Value::Bool(b) => documented == b.to_string(),
            Value::String(s) => documented == s,
            other => panic!("{field}: {other}"),
        };
        assert!(
            same,
            "{}: documents {documented}, the default is {default}",
            var.name
        );
        // "..., A..=B": both bounds accepted, beyond them refused as compute.<field>.
        let Some((_, range)) = var.accepted.rsplit_once(", ") else {
            continue;
        };
        let (lo, hi) = range.split_once("..=").unwrap();
        let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
        for ok in [lo, hi] {
            let value = ok.to_string();
            resolve(&[(var.name, &value)]).unwrap_or_else(|e| panic!("{}={value}: {e}", var.name));
        }
        for bad in [lo - lo.max(0.01) / 2.0, hi * 1.5] {
            let value = bad.to_string();
            let problems = match resolve(&[(var.name, &value)]) {
                Ok(_) => panic!("{}={value} accepted", var.name),
                Err(e) => e.problems().to_vec(),
            };
            let named = if nested {
                format!("compute.freshness.{field}")
            } else {
                format!("compute.{field}")
            };
            assert!(
                problems.iter().any(|p| p.field == named || p.field == var.name),
                "{}={value}: {problems:?}",
                var.name
            );
        }
    }
}

/// A `compute` override changes only the settings it names, after the variables.
#[test]
fn the_compute_override_merges_into_the_settings() {
    let c = resolve(&[
        ("CACHE_COMPUTE_LEASE", "9"),
        ("CACHE_COMPUTE_TTL_JITTER", "0.25"),
        ("CACHE_CUSTOM_CONFIG", r#"{"compute": {"ttl_jitter": 0.1}}"#),
    ])
    .unwrap();
    assert_eq!(c.compute.lease, Duration::from_secs(9));
    assert_eq!(c.compute.ttl_jitter, 0.1);
    assert_eq!(c.compute.max_wait, stratacache_compute::DEFAULT_MAX_WAIT);
    // Serialized with the rest of the configuration, and read back.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["compute"]["lease"], json!(9));
    let back: CacheConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back.compute, c.compute);
    // A configuration written before the compute settings existed still reads, with defaults.
    let mut old = serde_json::to_value(CacheConfig::preset(Preset::Simple)).unwrap();
    old.as_object_mut().unwrap().remove("compute");
    let old: CacheConfig = serde_json::from_value(old).unwrap();
    assert_eq!(old.compute, stratacache_factory::ComputeConfig::default());
    // An unknown setting lists the settings there are (whatever they are) and suggests one.
    let err = resolve(&[("CACHE_CUSTOM_CONFIG", r#"{"compute": {"max_wiat": 2}}"#)]).unwrap_err();
    let problem = &err.problems()[0];
    assert_eq!(
        (problem.field.as_str(), problem.value.as_str()),
        ("compute", "unknown setting \"max_wiat\"")
    );
    assert!(problem.accepted.contains("did you mean `max_wait`?"), "{problem}");
    for setting in serde_json::to_value(stratacache_factory::ComputeConfig::default())
        .unwrap()
        .as_object()
        .unwrap()
        .keys()
    {
        assert!(
            problem.accepted.contains(setting.as_str()),
            "{setting}: {problem}"
        );
    }
}

//! The dependency directions the architecture promises, checked on `cargo tree` (a `cargo xtask
//! ci` step): crates that must build without the heavy dependencies do.

/// One rule: the normal dependency tree of `package` with `features` contains none of `banned`.
pub(crate) struct Rule {
    /// The package whose tree is read.
    pub(crate) package: &'static str,
    /// Extra `cargo tree` arguments (features).
    pub(crate) features: &'static [&'static str],
    /// Crate names that must not be in the tree.
    pub(crate) banned: &'static [&'static str],
    /// Why, for the failure message.
    pub(crate) why: &'static str,
}

/// The rules (docs/architecture.md, "Dependencies").
pub(crate) const RULES: &[Rule] = &[
    Rule {
        package: "stratacache-admin",
        features: &["--no-default-features"],
        banned: &[
            "redis",
            "rustls",
            "chacha20poly1305",
            "stratacache-redis",
            "stratacache-crypto",
        ],
        why: "the admin API builds without Redis, TLS and the ciphers",
    },
    Rule {
        package: "stratacache-memory",
        features: &[],
        banned: &["redis", "rustls", "actix-web", "chacha20poly1305", "zstd"],
        why: "a memory-only application compiles core, memory and moka",
    },
    Rule {
        package: "stratacache-monitor",
        features: &[],
        banned: &["stratacache-keys", "redis", "actix-web"],
        why: "the monitor depends on core alone among our crates",
    },
    Rule {
        package: "stratacache-factory",
        features: &["--no-default-features"],
        banned: &[
            "stratacache-tiered",
            "stratacache-redis",
            "redis",
            "rustls",
            "chacha20poly1305",
            "zstd",
        ],
        why: "the factory without features is memory-only",
    },
    Rule {
        package: "stratacache",
        features: &[],
        banned: &["redis", "rustls", "zstd", "chacha20poly1305", "actix-web"],
        why: "the facade's default features are memory and keys",
    },
];

/// The banned crates of `rule` found in `tree`, the output of `cargo tree --prefix none -e
/// normal` (one `name vX.Y.Z [...]` per line).
pub(crate) fn violations(rule: &Rule, tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| rule.banned.contains(name))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_banned_crates_by_exact_name_only() {
        let rule = &RULES[0];
        let tree = "stratacache-admin v0.1.0 (/w)\nredis v1.8.1\nredis v1.8.1\nrustls-pki-types v1.12.0\nstratacache-redis-ish v0.1.0\n";
        assert_eq!(violations(rule, tree), ["redis"]);
        assert!(violations(rule, "stratacache-admin v0.1.0\nserde v1.0.0\n").is_empty());
    }
}

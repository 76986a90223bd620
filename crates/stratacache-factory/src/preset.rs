//! The reference system's presets, the deployment environment, and a preset recommendation.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{AiSettings, CacheConfig, EncryptionSettings, HashAlgorithm, LogLevel, TierSizes};
use crate::problem::suggestion;

/// A named starting configuration (`CACHE_PRESET`), with the reference system's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// A tiny memory-only cache; Redis is never used.
    Disabled,
    /// Small and cheap: resource-constrained or serverless deployments.
    Minimal,
    /// Balanced defaults for general use.
    Simple,
    /// Local development: short TTLs, verbose logs.
    Development,
    /// Production: long TTLs, strong compression, more connections.
    Production,
    /// AI applications in development.
    AiDevelopment,
    /// AI applications in production.
    AiProduction,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Self; 7] = [
        Self::Disabled,
        Self::Minimal,
        Self::Simple,
        Self::Development,
        Self::Production,
        Self::AiDevelopment,
        Self::AiProduction,
    ];

    /// The preset's name (`"ai-production"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Minimal => "minimal",
            Self::Simple => "simple",
            Self::Development => "development",
            Self::Production => "production",
            Self::AiDevelopment => "ai-development",
            Self::AiProduction => "ai-production",
        }
    }

    /// What the preset is for.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Disabled => {
                "Memory-only cache of 10 entries; Redis is never used. For tests and for turning caching off."
            }
            Self::Minimal => {
                "Small footprint: few connections, small memory tier, no monitoring. For constrained or serverless deployments."
            }
            Self::Simple => "Balanced defaults for general web applications.",
            Self::Development => "Local development: short TTLs, fast compression, debug logging.",
            Self::Production => {
                "Production web applications: long TTLs, strong compression, more connections."
            }
            Self::AiDevelopment => {
                "AI applications in development: per-operation TTLs, text tiers, debug logging."
            }
            Self::AiProduction => {
                "AI applications in production: long per-operation TTLs, large text limits, strong compression."
            }
        }
    }

    /// Where the preset fits.
    pub const fn environment_contexts(self) -> &'static [&'static str] {
        match self {
            Self::Disabled => &["testing", "minimal"],
            Self::Minimal => &["resource-constrained", "serverless", "embedded"],
            Self::Simple => &["general", "small-production"],
            Self::Development => &["development", "local"],
            Self::Production => &["production", "staging"],
            Self::AiDevelopment => &["development", "ai"],
            Self::AiProduction => &["production", "staging", "ai"],
        }
    }

    /// The preset's full configuration and description, for display.
    pub fn details(self) -> PresetDetails {
        PresetDetails {
            name: self.as_str(),
            description: self.description(),
            strategy: values(self).strategy,
            environment_contexts: self.environment_contexts().to_vec(),
            configuration: values(self),
        }
    }

    /// The AI variant of a preset (`production` → `ai-production`), itself for AI presets and
    /// `disabled`/`minimal`, which have none.
    pub const fn ai_variant(self) -> Self {
        match self {
            Self::Simple | Self::Development => Self::AiDevelopment,
            Self::Production => Self::AiProduction,
            other => other,
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown preset name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPreset(String);

impl fmt::Display for UnknownPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Preset::ALL.iter().map(|p| p.as_str()).collect();
        write!(
            f,
            "unknown preset {:?}; valid presets: {}{}",
            self.0,
            names.join(", "),
            suggestion(&self.0, names.iter().copied())
        )
    }
}

impl std::error::Error for UnknownPreset {}

impl FromStr for Preset {
    type Err = UnknownPreset;

    /// A preset by name, ignoring case and accepting `_` for `-` (`AI_PRODUCTION`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let normal = s.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == normal)
            .ok_or_else(|| UnknownPreset(s.to_owned()))
    }
}

/// How a preset trades speed against robustness (informational, as in the reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Low latency, small footprint.
    Fast,
    /// The middle ground.
    Balanced,
    /// Durability and capacity first.
    Robust,
    /// Tuned for AI responses.
    AiOptimized,
}

/// A preset's description and configuration, for display (e.g. by the admin API).
#[derive(Debug, Clone, Serialize)]
pub struct PresetDetails {
    /// The preset's name.
    pub name: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// Its strategy.
    pub strategy: Strategy,
    /// Where it fits.
    pub environment_contexts: Vec<&'static str>,
    /// Its configuration.
    pub configuration: CacheConfig,
}

/// The deployment environment (`ENVIRONMENT`), which decides the security rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine (the default).
    #[default]
    Development,
    /// Automated tests: authentication is not required.
    Testing,
    /// Pre-production: TLS and authentication are required.
    Staging,
    /// Production: TLS, authentication and certificate verification are required.
    Production,
}

impl Environment {
    /// Every environment.
    pub const ALL: [Self; 4] = [Self::Development, Self::Testing, Self::Staging, Self::Production];

    /// The canonical name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Testing => "testing",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }

    /// The environment a name stands for, with common aliases: `dev`, `develop`, `local` →
    /// development; `test`, `ci` → testing; `stage`, `preprod`, `uat` → staging; `prod`, `live` →
    /// production. Case is ignored.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" | "develop" | "local" => Some(Self::Development),
            "testing" | "test" | "tests" | "ci" => Some(Self::Testing),
            "staging" | "stage" | "preprod" | "pre-production" | "uat" => Some(Self::Staging),
            "production" | "prod" | "live" => Some(Self::Production),
            _ => None,
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A preset recommended for an environment, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// The recommended preset.
    pub preset: Preset,
    /// Why, in a sentence.
    pub reason: String,
    /// The environment recognised, if any.
    pub environment: Option<Environment>,
    /// 0..1: high for an exact environment name, lower for an alias, low for a guess.
    pub confidence: f64,
}

/// The preset for `environment` (`ENVIRONMENT`'s value, aliases accepted), in its AI variant when
/// `ai` is set: development → `development`, testing → `minimal`, staging and production →
/// `production`; unknown or absent → `development`, with a low confidence.
///
/// ```
/// use stratacache_factory::{recommend_preset, Preset};
///
/// assert_eq!(recommend_preset(Some("prod"), false).preset, Preset::Production);
/// assert_eq!(recommend_preset(Some("staging"), true).preset, Preset::AiProduction);
/// assert_eq!(recommend_preset(None, false).preset, Preset::Development);
/// ```
pub fn recommend_preset(environment: Option<&str>, ai: bool) -> Recommendation {
    let given = environment.map(str::trim).filter(|s| !s.is_empty());
    let Some(given) = given else {
        let preset = if ai {
            Preset::AiDevelopment
        } else {
            Preset::Development
        };
        return Recommendation {
            preset,
            reason: format!("ENVIRONMENT is not set; defaulting to {preset}"),
            environment: None,
            confidence: 0.5,
        };
    };
    let Some(env) = Environment::parse(given) else {
        let preset = if ai {
            Preset::AiDevelopment
        } else {
            Preset::Development
        };
        return Recommendation {
            preset,
            reason: format!("unrecognised environment {given:?}; defaulting to {preset}"),
            environment: None,
            confidence: 0.3,
        };
    };
    let base = match env {
        Environment::Development => Preset::Development,
        Environment::Testing => Preset::Minimal,
        Environment::Staging | Environment::Production => Preset::Production,
    };
    let preset = if ai { base.ai_variant() } else { base };
    let exact = given.eq_ignore_ascii_case(env.as_str());
    let why = match env {
        Environment::Development => "short TTLs and debug logging for local work",
        Environment::Testing => "a small, fast cache without monitoring for tests",
        Environment::Staging => "staging should behave like production",
        Environment::Production => "long TTLs, strong compression and more connections",
    };
    let ai_note = if ai && preset != base {
        ", AI variant because AI caching is enabled"
    } else {
        ""
    };
    Recommendation {
        preset,
        reason: format!("environment {given:?} is {env}: {why}{ai_note}"),
        environment: Some(env),
        confidence: if exact { 0.95 } else { 0.85 },
    }
}

/// The AI settings of `ai-development`, also those of the non-AI presets other than `production`
/// (used when `ENABLE_AI_CACHE` turns AI caching on for them).
fn ai_development() -> AiSettings {
    AiSettings {
        text_hash_threshold: 500,
        hash_algorithm: HashAlgorithm::Blake3,
        text_size_tiers: TierSizes {
            small: 500,
            medium: 2_000,
            large: 10_000,
        },
        operation_ttls: ttls([
            ("summarize", 1_800),
            ("sentiment", 900),
            ("key_points", 1_200),
            ("questions", 1_500),
            ("qa", 900),
        ]),
        enable_smart_promotion: true,
        max_text_length: 50_000,
    }
}

/// The AI settings of `ai-production`, also those of `production`.
fn ai_production() -> AiSettings {
    AiSettings {
        text_hash_threshold: 1_000,
        hash_algorithm: HashAlgorithm::Blake3,
        text_size_tiers: TierSizes {
            small: 1_000,
            medium: 5_000,
            large: 25_000,
        },
        operation_ttls: ttls([
            ("summarize", 14_400),
            ("sentiment", 7_200),
            ("key_points", 10_800),
            ("questions", 9_600),
            ("qa", 7_200),
        ]),
        enable_smart_promotion: true,
        max_text_length: 200_000,
    }
}

fn ttls<const N: usize>(pairs: [(&str, u64); N]) -> BTreeMap<String, Duration> {
    pairs
        .into_iter()
        .map(|(op, s)| (op.to_owned(), Duration::from_secs(s)))
        .collect()
}

/// The reference values of `preset`.
pub(crate) fn values(preset: Preset) -> CacheConfig {
    use Preset as P;
    // (strategy, ttl, max connections, connect timeout, memory entries, threshold, level, AI, monitoring, log)
    let (strategy, ttl, conns, timeout, memory, threshold, level, ai, monitoring, log) = match preset {
        P::Disabled => (
            Strategy::Fast,
            300,
            1,
            1,
            10,
            10_000,
            1,
            false,
            false,
            LogLevel::Warning,
        ),
        P::Minimal => (
            Strategy::Fast,
            900,
            2,
            3,
            25,
            5_000,
            1,
            false,
            false,
            LogLevel::Error,
        ),
        P::Simple => (
            Strategy::Balanced,
            3_600,
            5,
            5,
            100,
            1_000,
            6,
            false,
            true,
            LogLevel::Info,
        ),
        P::Development => (
            Strategy::Fast,
            600,
            3,
            2,
            50,
            2_000,
            3,
            false,
            true,
            LogLevel::Debug,
        ),
        P::Production => (
            Strategy::Robust,
            7_200,
            20,
            10,
            500,
            500,
            9,
            false,
            true,
            LogLevel::Info,
        ),
        P::AiDevelopment => (
            Strategy::AiOptimized,
            1_800,
            5,
            5,
            100,
            1_000,
            6,
            true,
            true,
            LogLevel::Debug,
        ),
        P::AiProduction => (
            Strategy::AiOptimized,
            14_400,
            25,
            15,
            1_000,
            300,
            9,
            true,
            true,
            LogLevel::Info,
        ),
    };
    CacheConfig {
        preset,
        strategy,
        environment: Environment::Development,
        redis_url: None,
        redis_password: None,
        acl_username: None,
        use_tls: false,
        tls_cert_path: None,
        tls_key_path: None,
        tls_ca_path: None,
        verify_certificates: true,
        require_tls: false,
        insecure_allow_plaintext: false,
        max_connections: conns,
        connection_timeout: Duration::from_secs(timeout),
        command_timeout: Duration::from_millis(if ai { 500 } else { 250 }),
        default_ttl: Duration::from_secs(ttl),
        memory_cache_size: memory,
        enable_l1_cache: true,
        compression_threshold: threshold,
        compression_level: level,
        max_decompressed_size: crate::config::DEFAULT_MAX_DECOMPRESSED_SIZE,
        enable_ai_cache: ai,
        ai: if matches!(preset, P::Production | P::AiProduction) {
            ai_production()
        } else {
            ai_development()
        },
        enable_monitoring: monitoring,
        log_level: log,
        encryption: EncryptionSettings::default(),
        fail_on_connection_error: false,
        namespace: if ai { "ai".to_owned() } else { "app".to_owned() },
        redis_database: None,
        fleet_invalidation: true,
        fleet_disconnected_l1_ttl: crate::config::DEFAULT_FLEET_DISCONNECTED_L1_TTL,
        compute: stratacache_compute::ComputeConfig::default(),
    }
}

impl CacheConfig {
    /// The configuration of [`CacheFactory::for_web_app`](crate::CacheFactory::for_web_app) (without a URL).
    pub fn web_app() -> Self {
        let mut c = Self::preset(Preset::Simple);
        c.default_ttl = Duration::from_secs(1_800);
        c.memory_cache_size = 200;
        c.compression_threshold = 2_000;
        c.compression_level = 6;
        c.namespace = "web".to_owned();
        c
    }

    /// The configuration of [`CacheFactory::for_ai_app`](crate::CacheFactory::for_ai_app) (without a URL).
    pub fn ai_app() -> Self {
        let mut c = Self::preset(Preset::AiDevelopment);
        c.default_ttl = Duration::from_secs(3_600);
        c.memory_cache_size = 100;
        c.compression_threshold = 1_000;
        c.compression_level = 6;
        c.ai.text_hash_threshold = 500;
        c.namespace = "ai".to_owned();
        c
    }

    /// The configuration of [`CacheFactory::for_testing`](crate::CacheFactory::for_testing) (without a URL).
    pub fn testing() -> Self {
        let mut c = Self::preset(Preset::Development);
        c.environment = Environment::Testing;
        c.default_ttl = Duration::from_secs(60);
        c.memory_cache_size = 50;
        c.enable_l1_cache = false;
        c.compression_threshold = 1_000;
        c.compression_level = 1;
        c.redis_database = Some(15);
        c.namespace = "test".to_owned();
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_every_preset_is_valid() {
        for p in Preset::ALL {
            assert_eq!(p.as_str().parse::<Preset>(), Ok(p));
            assert_eq!(
                p.as_str().to_uppercase().replace('-', "_").parse::<Preset>(),
                Ok(p)
            );
            values(p).validate().unwrap_or_else(|e| panic!("{p}: {e}"));
        }
        let err = "producton".parse::<Preset>().unwrap_err().to_string();
        assert!(err.contains("did you mean `production`"), "{err}");
        assert!(err.contains("ai-development"), "{err}");
    }
}

//! The command-line options that shape generated traffic (content sizes and
//! co-occurrence density), shared by `generate`, `produce` and the
//! benchmarks, so each states the same settings the same way.

use clap::Args;
use helixflow_sources::generator::TrafficShape;
use std::str::FromStr;

/// `--realistic`, `--content-chars`, `--topic-entities`, `--mentions-max`.
#[derive(Args, Clone, Debug, Default)]
pub struct TrafficArgs {
    /// Realistic traffic: ~350-character contents (about 500 bytes an
    /// event) and ~6M entity-pair incidences per 1M events (~27 distinct
    /// entities per conversation). The options
    /// below override its parts.
    #[arg(long)]
    pub realistic: bool,
    /// Characters of message content (0: a short label) [default: 0, or 350
    /// with --realistic].
    #[arg(long)]
    pub content_chars: Option<usize>,
    /// Entity draws of a conversation's topic, MIN..MAX (MAX exclusive)
    /// [default: 40..100, or 18..45 with --realistic].
    #[arg(long)]
    pub topic_entities: Option<TopicRange>,
    /// Most entities one message mentions (each mentions 0..=N) [default: 6,
    /// or 4 with --realistic].
    #[arg(long)]
    pub mentions_max: Option<u32>,
}

/// A `MIN..MAX` range of topic draws (`MIN >= 1`, `MAX > MIN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopicRange(pub u64, pub u64);

impl FromStr for TopicRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (low, high) = s
            .split_once("..")
            .ok_or_else(|| format!("`{s}`: expected MIN..MAX, e.g. 20..50"))?;
        let number = |part: &str| {
            part.trim()
                .parse::<u64>()
                .map_err(|e| format!("`{s}`: `{part}` is not a count ({e})"))
        };
        let (low, high) = (number(low)?, number(high)?);
        if low == 0 || high <= low {
            return Err(format!(
                "`{s}`: MIN must be at least 1 and MAX greater than MIN"
            ));
        }
        Ok(TopicRange(low, high))
    }
}

impl TrafficArgs {
    /// The shape these options ask for.
    pub fn shape(&self) -> TrafficShape {
        let base = if self.realistic {
            TrafficShape::REALISTIC
        } else {
            TrafficShape::SHORT
        };
        TrafficShape {
            content_chars: self.content_chars.unwrap_or(base.content_chars),
            topic_entities: self
                .topic_entities
                .map_or(base.topic_entities, |r| (r.0, r.1)),
            mentions_max: self.mentions_max.unwrap_or(base.mentions_max),
        }
    }
}

/// The `helixflow generate` options that give `shape`.
pub fn shape_options(shape: &TrafficShape) -> Vec<String> {
    vec![
        "--content-chars".into(),
        shape.content_chars.to_string(),
        "--topic-entities".into(),
        format!("{}..{}", shape.topic_entities.0, shape.topic_entities.1),
        "--mentions-max".into(),
        shape.mentions_max.to_string(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realistic_is_overridden_part_by_part_and_ranges_are_checked() {
        let args = TrafficArgs {
            realistic: true,
            mentions_max: Some(2),
            ..TrafficArgs::default()
        };
        let shape = args.shape();
        assert_eq!(shape.content_chars, TrafficShape::REALISTIC.content_chars);
        assert_eq!(shape.topic_entities, TrafficShape::REALISTIC.topic_entities);
        assert_eq!(shape.mentions_max, 2);
        assert_eq!(TrafficArgs::default().shape(), TrafficShape::SHORT);
        assert_eq!("20..50".parse::<TopicRange>(), Ok(TopicRange(20, 50)));
        for bad in ["20", "0..5", "5..5", "a..9"] {
            let err = bad.parse::<TopicRange>().err();
            assert!(
                err.as_deref().is_some_and(|e| e.contains(bad)),
                "{bad}: {err:?}"
            );
        }
    }
}

//! Keyword lists: the published presets (versioned data files compiled in) and user files.

use std::path::Path;

use crate::{Error, Result};

/// A named preset: (name, file contents). Each file's first comment line names its version and
/// upstream source.
const PRESET_FILES: &[(&str, &str)] = &[
    ("paper15", include_str!("../keywords/paper15.txt")),
    ("blog", include_str!("../keywords/blog.txt")),
    ("blog-qwen", include_str!("../keywords/blog-qwen.txt")),
    (
        "blog-deepseek",
        include_str!("../keywords/blog-deepseek.txt"),
    ),
    ("blog-llama", include_str!("../keywords/blog-llama.txt")),
    (
        "blog-microsoft",
        include_str!("../keywords/blog-microsoft.txt"),
    ),
    ("simplerl", include_str!("../keywords/simplerl.txt")),
];

/// Version of the preset files; bump when a list changes, so results say which list they used.
pub const PRESET_VERSION: u32 = 1;

/// Names accepted by [`Keywords::preset`].
pub const PRESETS: &[&str] = &[
    "paper15",
    "blog",
    "blog-qwen",
    "blog-deepseek",
    "blog-llama",
    "blog-microsoft",
    "simplerl",
];

/// A named list of reflection keywords.
///
/// Keywords are stored lower-cased (the study matches against `text.lower()`; all published
/// lists are already lower-case, so this only matters for user files) and de-duplicated in
/// first-seen order (a duplicate would be counted twice by a Python `sum(...)`, but no published
/// list has one and a user listing a word twice almost certainly did not mean to double it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    name: String,
    words: Vec<String>,
    preset: bool,
}

impl Keywords {
    /// One of the published presets (see [`PRESETS`]): `paper15` (paper App. C, 15 keywords),
    /// `blog` (oat-zero HEAD, 11), `blog-qwen`, `blog-deepseek`, `blog-llama`, `blog-microsoft`
    /// (the original per-model blog sets) and `simplerl` (SimpleRL-Zero's 7 words).
    ///
    /// ```
    /// let k = aha_reflect::Keywords::preset("paper15").unwrap();
    /// assert_eq!(k.words().len(), 15);
    /// assert!(aha_reflect::Keywords::preset("nope").is_err());
    /// ```
    pub fn preset(name: &str) -> Result<Keywords> {
        let (_, text) = PRESET_FILES
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| Error::UnknownPreset {
                name: name.to_string(),
                known: PRESETS.join(", "),
            })?;
        let mut k = Self::parse(name, text)?;
        k.preset = true;
        Ok(k)
    }

    /// A keyword set named on a command line or in a config: a preset name (see [`PRESETS`]),
    /// else a file (see [`Keywords::from_file`]). The one reading of `--keywords` everywhere.
    ///
    /// ```
    /// assert_eq!(aha_reflect::Keywords::from_spec("paper15").unwrap().words().len(), 15);
    /// let err = aha_reflect::Keywords::from_spec("no-such-set").unwrap_err().to_string();
    /// assert!(err.contains("paper15"), "{err}");
    /// ```
    pub fn from_spec(spec: &str) -> Result<Keywords> {
        if PRESETS.contains(&spec) {
            return Keywords::preset(spec);
        }
        let path = Path::new(spec);
        if path.exists() {
            return Keywords::from_file(path);
        }
        Err(Error::UnknownKeywords {
            spec: spec.to_string(),
            known: PRESETS.join(", "),
        })
    }

    /// Reads a user list: one keyword per line, `#` starts a comment line, blank lines ignored,
    /// surrounding whitespace trimmed (inner spaces are part of the keyword: `check again`).
    pub fn from_file(path: &Path) -> Result<Keywords> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Builds a list from words given directly (e.g. from a config file).
    pub fn from_words<S: AsRef<str>>(name: &str, words: &[S]) -> Result<Keywords> {
        let mut out = Keywords {
            name: name.to_string(),
            words: Vec::new(),
            preset: false,
        };
        for (i, w) in words.iter().enumerate() {
            out.push(name, i + 1, w.as_ref())?;
        }
        out.finish(name)
    }

    /// Parses the preset/user file format described at [`Keywords::from_file`].
    pub fn parse(name: &str, text: &str) -> Result<Keywords> {
        let mut out = Keywords {
            name: name.to_string(),
            words: Vec::new(),
            preset: false,
        };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(name, i + 1, line)?;
        }
        out.finish(name)
    }

    fn push(&mut self, source_name: &str, line: usize, word: &str) -> Result<()> {
        let word = word.trim();
        if word.is_empty() {
            return Err(Error::BadKeywords {
                source_name: source_name.to_string(),
                line,
                reason: "empty keyword (Python's str.count(\"\") would count every position)"
                    .into(),
            });
        }
        let lower = word.to_lowercase();
        if !self.words.contains(&lower) {
            self.words.push(lower);
        }
        Ok(())
    }

    fn finish(self, source_name: &str) -> Result<Keywords> {
        if self.words.is_empty() {
            return Err(Error::BadKeywords {
                source_name: source_name.to_string(),
                line: 0,
                reason: "no keywords".into(),
            });
        }
        Ok(self)
    }

    /// The preset name or the file path the list came from.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What to record with results: `paper15@v1` for a preset, the name or path otherwise.
    pub fn label(&self) -> String {
        if self.preset {
            format!("{}@v{PRESET_VERSION}", self.name)
        } else {
            self.name.clone()
        }
    }

    /// The keywords, lower-cased, in file order.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_published_sizes() {
        let sizes = [
            ("paper15", 15),
            ("blog", 11),
            ("blog-qwen", 3),
            ("blog-deepseek", 8),
            ("blog-llama", 6),
            ("blog-microsoft", 6),
            ("simplerl", 7),
        ];
        for (name, n) in sizes {
            let k = Keywords::preset(name).unwrap();
            assert_eq!(k.words().len(), n, "{name}");
            assert_eq!(k.label(), format!("{name}@v1"));
        }
        assert_eq!(PRESETS.len(), PRESET_FILES.len());
    }

    #[test]
    fn paper15_drops_try_again_and_adds_five() {
        let blog = Keywords::preset("blog").unwrap();
        let paper = Keywords::preset("paper15").unwrap();
        assert!(blog.words().iter().any(|w| w == "try again"));
        assert!(!paper.words().iter().any(|w| w == "try again"));
        for w in [
            "reassess",
            "reconsider",
            "reanalyze",
            "double-check",
            "verify again",
        ] {
            assert!(paper.words().iter().any(|x| x == w), "{w}");
        }
    }

    #[test]
    fn user_file_format() {
        let k = Keywords::parse("f", "# c\n\n  Wait \nwait\nHowever\n").unwrap();
        assert_eq!(k.words(), ["wait", "however"]);
        let e = Keywords::parse("f.txt", "# only comments\n").unwrap_err();
        assert!(e.to_string().contains("f.txt"), "{e}");
    }
}

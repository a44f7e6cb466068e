//! L1 signature matching: every rule pattern compiled into one `RegexSet` per direction, run
//! over every string, key and number of a message in each L0 view.
//!
//! The `regex` crate matches in linear time, so a hostile argument cannot make a pattern
//! backtrack (no ReDoS), and a set runs all patterns in one pass over each view.

use crate::inspect::message::{Direction, Message};
use crate::inspect::normalize;
use crate::inspect::rules::{LoadedRule, Rule, RuleDirection, RuleError};
use crate::inspect::verdict::{Finding, Layer};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde_json::Value;

/// Compiled size budget for all patterns of one direction. The default (10 MiB) is too small
/// for a hundred case-insensitive Unicode patterns in one set.
const SET_SIZE_LIMIT: usize = 256 << 20;

/// A rule ready to match.
#[derive(Debug)]
pub struct CompiledRule {
    pub rule: Rule,
    pub source: std::path::PathBuf,
    /// Only for `recursive_match: false` rules; the others match through the set.
    regex: Option<Regex>,
    tools: Option<Vec<String>>,
    /// Exact field paths, split on dots, for `recursive_match: false` rules.
    fields: Vec<Vec<String>>,
}

impl CompiledRule {
    fn applies_to_tool(&self, tool: Option<&str>) -> bool {
        match (&self.tools, tool) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(globs), Some(tool)) => globs.iter().any(|g| glob_match(g, tool)),
        }
    }

    fn applies_to(&self, direction: Direction) -> bool {
        matches!(
            (self.rule.direction, direction),
            (RuleDirection::Both, _)
                | (RuleDirection::Request, Direction::AgentToServer)
                | (RuleDirection::Response, Direction::ServerToAgent)
        )
    }
}

/// The recursive rules of one direction, as one set.
#[derive(Debug)]
struct DirectionSet {
    set: RegexSet,
    /// Set pattern index to rule index.
    members: Vec<usize>,
    /// Rule indexes of `recursive_match: false` rules for this direction.
    exact: Vec<usize>,
}

/// All loaded rules, compiled.
#[derive(Debug)]
pub struct Matcher {
    rules: Vec<CompiledRule>,
    agent_to_server: DirectionSet,
    server_to_agent: DirectionSet,
}

impl Matcher {
    /// Compiles every rule; the first pattern that does not compile is reported with its file
    /// and rule id.
    pub fn new(loaded: Vec<LoadedRule>) -> Result<Self, RuleError> {
        let mut rules = Vec::with_capacity(loaded.len());
        for LoadedRule { rule, source } in loaded {
            let pattern_error = |reason: String| RuleError::Pattern {
                path: source.clone(),
                id: rule.id.clone(),
                reason,
            };
            // Recursive rules only ever run inside their direction's set; a rule of their own
            // would cost megabytes for nothing. Parsing still names the rule whose pattern is
            // wrong, which the set's error cannot.
            let regex = if rule.is_recursive() {
                regex_syntax::Parser::new()
                    .parse(rule.effective_pattern())
                    .map_err(|e| pattern_error(e.to_string()))?;
                None
            } else {
                let regex = RegexBuilder::new(rule.effective_pattern())
                    .size_limit(SET_SIZE_LIMIT)
                    .build()
                    .map_err(|e| pattern_error(e.to_string()))?;
                Some(regex)
            };
            let fields = rule
                .match_fields
                .iter()
                .map(|f| f.split('.').map(str::to_owned).collect())
                .collect();
            rules.push(CompiledRule {
                tools: rule.match_tools.clone(),
                rule,
                source,
                regex,
                fields,
            });
        }
        let agent_to_server = Self::direction_set(&rules, Direction::AgentToServer)?;
        let server_to_agent = Self::direction_set(&rules, Direction::ServerToAgent)?;
        Ok(Self {
            rules,
            agent_to_server,
            server_to_agent,
        })
    }

    fn direction_set(
        rules: &[CompiledRule],
        direction: Direction,
    ) -> Result<DirectionSet, RuleError> {
        let mut members = Vec::new();
        let mut exact = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if !r.applies_to(direction) {
                continue;
            }
            if r.rule.is_recursive() {
                members.push(i);
            } else {
                exact.push(i);
            }
        }
        let set = RegexSetBuilder::new(members.iter().map(|&i| rules[i].rule.effective_pattern()))
            .size_limit(SET_SIZE_LIMIT)
            .dfa_size_limit(SET_SIZE_LIMIT)
            .build()
            .map_err(|e| RuleError::Pattern {
                path: "(rule set)".into(),
                id: format!("all {} rules for {}", members.len(), direction.as_str()),
                reason: e.to_string(),
            })?;
        Ok(DirectionSet {
            set,
            members,
            exact,
        })
    }

    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    /// The patterns compiled into one direction's set, as the regex engine sees them (after
    /// the word-boundary rewrite), so tests and tools can check what will actually run.
    pub fn set_patterns(&self, direction: Direction) -> &[String] {
        match direction {
            Direction::AgentToServer => self.agent_to_server.set.patterns(),
            Direction::ServerToAgent => self.server_to_agent.set.patterns(),
        }
    }

    /// Every rule that matches `message`, in rule order.
    pub fn findings(&self, message: &Message) -> Vec<Finding> {
        let set = match message.direction {
            Direction::AgentToServer => &self.agent_to_server,
            Direction::ServerToAgent => &self.server_to_agent,
        };
        let mut hit = vec![false; self.rules.len()];
        let mut scan = Scan {
            matcher: self,
            set,
            tool: message.tool.as_deref(),
            hit: &mut hit,
            views: Vec::new(),
        };
        if let Some(content) = message.content() {
            scan.value(content);
        }
        for &i in &set.exact {
            let rule = &self.rules[i];
            let Some(regex) = &rule.regex else { continue };
            if !rule.applies_to_tool(message.tool.as_deref()) {
                continue;
            }
            for path in &rule.fields {
                if let Some(text) = lookup(&message.body, path).and_then(scalar_text) {
                    if matches_any_view(regex, &text, &mut scan.views) {
                        scan.hit[i] = true;
                    }
                }
            }
        }
        hit.iter()
            .enumerate()
            .filter(|(_, &h)| h)
            .map(|(i, _)| {
                let r = &self.rules[i].rule;
                Finding {
                    rule: r.id.clone(),
                    layer: Layer::L1,
                    action: r.action,
                    severity: r.severity,
                    message: r.message.clone(),
                }
            })
            .collect()
    }
}

/// One walk over a message's content.
struct Scan<'a> {
    matcher: &'a Matcher,
    set: &'a DirectionSet,
    tool: Option<&'a str>,
    hit: &'a mut [bool],
    /// Reused buffer for L0 views, so a walk allocates only when a value has views.
    views: Vec<String>,
}

impl Scan<'_> {
    fn value(&mut self, value: &Value) {
        match value {
            Value::String(s) => self.text(s),
            Value::Number(n) => self.text(&n.to_string()),
            Value::Array(items) => items.iter().for_each(|v| self.value(v)),
            Value::Object(map) => {
                for (k, v) in map {
                    self.text(k);
                    self.value(v);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn text(&mut self, raw: &str) {
        self.views.clear();
        normalize::views(raw, &mut self.views);
        self.mark(raw);
        for i in 0..self.views.len() {
            let view = std::mem::take(&mut self.views[i]);
            self.mark(&view);
            self.views[i] = view;
        }
    }

    fn mark(&mut self, haystack: &str) {
        // `is_match` stops at the first match and skips the per-pattern bookkeeping; almost
        // every value is benign, so the common case pays for one pass only.
        if !self.set.set.is_match(haystack) {
            return;
        }
        for pattern in self.set.set.matches(haystack).iter() {
            let rule_index = self.set.members[pattern];
            if self.matcher.rules[rule_index].applies_to_tool(self.tool) {
                self.hit[rule_index] = true;
            }
        }
    }
}

fn matches_any_view(regex: &Regex, raw: &str, views: &mut Vec<String>) -> bool {
    if regex.is_match(raw) {
        return true;
    }
    views.clear();
    normalize::views(raw, views);
    views.iter().any(|v| regex.is_match(v))
}

fn lookup<'v>(root: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(root, |v, key| match v {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Matches a tool name against a glob where `*` stands for any run of characters.
pub fn glob_match(glob: &str, name: &str) -> bool {
    let mut parts = glob.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let tail: Vec<&str> = parts.collect();
    let Some((last, middle)) = tail.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::rules::parse_pack;
    use std::path::Path;

    fn matcher(yaml: &str) -> Matcher {
        let rules = parse_pack(Path::new("test.yaml"), yaml).expect("pack parses");
        Matcher::new(rules).expect("pack compiles")
    }

    fn call(args: &str) -> Message {
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"run","arguments":{args}}}}}"#
        );
        Message::parse(Direction::AgentToServer, line.as_bytes()).expect("valid message")
    }

    const PACK: &str = r#"
- id: T-1
  severity: HIGH
  action: BLOCK
  match_fields: ["params.arguments.command"]
  pattern: 'rm\s+-rf\s+/'
  message: no
- id: T-2
  severity: LOW
  action: WARN
  pattern: 'secret'
  message: careful
  match_tools: ["other_*"]
- id: T-3
  severity: LOW
  action: BLOCK
  recursive_match: false
  match_fields: ["params.arguments.path"]
  pattern: '^/etc/'
  message: etc
"#;

    #[test]
    fn renaming_or_nesting_a_field_does_not_bypass_a_recursive_rule() {
        let m = matcher(PACK);
        for args in [
            r#"{"command":"rm -rf /"}"#,
            r#"{"cmd":"rm -rf /"}"#,
            r#"{"x":{"y":["ls","rm -rf /"]}}"#,
            r#"{"rm -rf /":1}"#,
        ] {
            let ids: Vec<_> = m
                .findings(&call(args))
                .into_iter()
                .map(|f| f.rule)
                .collect();
            assert_eq!(ids, ["T-1"], "{args}");
        }
    }

    #[test]
    fn match_tools_limits_a_rule_to_its_tools() {
        let m = matcher(PACK);
        assert!(m.findings(&call(r#"{"q":"secret"}"#)).is_empty());
    }

    #[test]
    fn exact_rules_look_only_at_their_fields() {
        let m = matcher(PACK);
        assert_eq!(m.findings(&call(r#"{"path":"/etc/x"}"#)).len(), 1);
        assert!(m.findings(&call(r#"{"file":"/etc/x"}"#)).is_empty());
    }

    #[test]
    fn rules_only_see_their_direction() {
        let m = matcher(PACK);
        let line = br#"{"jsonrpc":"2.0","id":1,"result":{"text":"rm -rf /"}}"#;
        let response = Message::parse(Direction::ServerToAgent, line).expect("valid");
        assert!(m.findings(&response).is_empty());
    }

    #[test]
    fn bad_pattern_names_file_and_rule() {
        let rules = parse_pack(
            Path::new("p.yaml"),
            "- {id: BAD-1, severity: LOW, action: BLOCK, pattern: '(', message: x}",
        )
        .expect("parses");
        let err = Matcher::new(rules).expect_err("must not compile");
        let text = err.to_string();
        assert!(text.contains("p.yaml") && text.contains("BAD-1"), "{text}");
    }

    /// An McpVanguard-style pack: plain (Unicode) `\b` everywhere.
    const UNICODE_B_PACK: &str = r#"
- id: V-1
  severity: HIGH
  action: BLOCK
  pattern: '\bsudo\s+-i\b'
  message: root shell
- id: V-2
  severity: HIGH
  action: BLOCK
  recursive_match: false
  match_fields: ["params.arguments.path"]
  pattern: '\.ssh/id_\w+\b'
  message: ssh key
- id: V-3
  severity: LOW
  action: WARN
  pattern: 'curl\B'
  message: curlx
"#;

    #[test]
    fn plain_word_boundaries_still_match_ascii_and_spare_near_misses() {
        let m = matcher(UNICODE_B_PACK);
        let ids = |args: &str| -> Vec<String> {
            m.findings(&call(args))
                .into_iter()
                .map(|f| f.rule)
                .collect()
        };
        assert_eq!(ids(r#"{"cmd":"sudo -i"}"#), ["V-1"]);
        assert_eq!(ids(r#"{"cmd":"then sudo -i; ls"}"#), ["V-1"]);
        assert!(ids(r#"{"cmd":"pseudo -ix"}"#).is_empty());
        assert!(ids(r#"{"cmd":"sudo -il"}"#).is_empty());
        assert_eq!(ids(r#"{"path":"/home/a/.ssh/id_rsa"}"#), ["V-2"]);
        assert!(ids(r#"{"file":"/home/a/.ssh/id_rsa"}"#).is_empty());
        assert_eq!(ids(r#"{"cmd":"curlie x"}"#), ["V-3"]);
        assert!(ids(r#"{"cmd":"curl x"}"#).is_empty());
        // Next to a non-ASCII letter an ASCII boundary holds, so gluing `é` to the keyword does
        // not hide it.
        assert_eq!(ids(r#"{"cmd":"ésudo -i"}"#), ["V-1"]);
    }

    #[test]
    fn compiled_sets_hold_no_unicode_word_boundary() {
        use crate::inspect::word_boundary::has_unicode_word_boundary;
        let m = matcher(UNICODE_B_PACK);
        let patterns = m.set_patterns(Direction::AgentToServer);
        assert_eq!(patterns.len(), 2);
        for p in patterns {
            assert!(!has_unicode_word_boundary(p), "{p}");
        }
        for r in m.rules() {
            assert!(r.rule.word_boundaries_rewritten(), "{}", r.rule.id);
            assert!(has_unicode_word_boundary(&r.rule.pattern), "original kept");
            let exact = r.regex.as_ref().map(|re| re.as_str());
            if let Some(p) = exact {
                assert!(!has_unicode_word_boundary(p), "{p}");
            }
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("run_*", "run_shell"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("*exec*", "remote_exec_cmd"));
        assert!(glob_match("read_file", "read_file"));
        assert!(!glob_match("read_file", "read_files"));
        assert!(!glob_match("run_*", "xrun_shell"));
        assert!(!glob_match("a*b*c", "acb"));
    }
}

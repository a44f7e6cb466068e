//! `vanguard rules list|test`.

use clap::{Args, Subcommand};
use std::process::ExitCode;
use vanguard::inspect::{examples, Inspector, InspectorConfig};

/// Inspect the signature rule packs.
#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// List every loaded rule: id, action, severity, category, direction and message.
    #[command(
        after_help = "Examples:\n  vanguard rules list\n  vanguard rules list --rules ./my-rules --json"
    )]
    List(ListArgs),
    /// Run every rule's examples through the real inspection pipeline: each `block` example
    /// must trigger its rule and each `allow` example must not. Exits 1 if any fails.
    ///
    /// Rules whose plain `\b`/`\B` (Unicode word boundaries) were rewritten to ASCII ones
    /// at load, `(?-u:\b)`, are listed as NOTE lines: their examples ran against the rewritten
    /// pattern, which is what `vanguard start` runs.
    #[command(
        after_help = "Examples:\n  vanguard rules test\n  vanguard rules test --rules ./my-rules"
    )]
    Test(TestArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    rules: super::RuleSource,
    /// One JSON object per rule instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    #[command(flatten)]
    rules: super::RuleSource,
}

pub fn run(cmd: RulesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RulesCommand::List(args) => list(args),
        RulesCommand::Test(args) => test(args),
    }
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let rules = args.rules.load()?;
    // Compiling proves the listed rules are the ones that would run.
    Inspector::new(rules.clone(), InspectorConfig::default())?;
    for loaded in &rules {
        let r = &loaded.rule;
        if args.json {
            let line = serde_json::json!({
                "id": r.id, "action": r.action, "severity": r.severity,
                "category": r.category, "direction": format!("{:?}", r.direction).to_lowercase(),
                "message": r.message, "description": r.description,
                "source": loaded.source.display().to_string(),
            });
            println!("{line}");
        } else {
            println!(
                "{:<10} {:<5} {:<8} {:<10} {:<8} {}",
                r.id,
                r.action,
                r.severity,
                r.category.as_deref().unwrap_or("-"),
                format!("{:?}", r.direction).to_lowercase(),
                r.message
            );
        }
    }
    if !args.json {
        println!("{} rules", rules.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let rules = args.rules.load()?;
    for loaded in rules.iter().filter(|r| r.rule.word_boundaries_rewritten()) {
        println!(
            "NOTE {} ({}): \\b/\\B rewritten to ASCII word boundaries: {}",
            loaded.rule.id,
            loaded.source.display(),
            loaded.rule.effective_pattern()
        );
    }
    let rewritten = rules
        .iter()
        .filter(|r| r.rule.word_boundaries_rewritten())
        .count();
    if rewritten > 0 {
        println!(
            "     a Unicode \\b sends every non-ASCII value to the regex engine's slow path \
             (seconds per 64 KiB); with ASCII boundaries a non-ASCII letter is not a word \
             character, so `\\bsudo` also matches in `ésudo`"
        );
    }
    let inspector = Inspector::new(rules, InspectorConfig::default())?;
    let report = examples::run(&inspector);
    for f in &report.failures {
        let verb = if f.expected == "block" {
            "should match but did not"
        } else {
            "should not match but did"
        };
        println!(
            "FAIL {} ({}): {} example {}; matched: [{}]",
            f.rule,
            f.source,
            f.expected,
            f.example,
            f.matched.join(", ")
        );
        println!("     {verb}");
    }
    for id in &report.rules_without_block_examples {
        println!("WARN {id}: no block examples");
    }
    println!(
        "{} rules, {} examples: {} passed, {} failed",
        report.rules,
        report.checked,
        report.checked - report.failures.len(),
        report.failures.len()
    );
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

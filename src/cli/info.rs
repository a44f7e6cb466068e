//! `vanguard info`: what this binary would run with.

use clap::Args;
use std::collections::BTreeMap;
use std::process::ExitCode;
use vanguard::inspect::{Inspector, InspectorConfig};

/// Show the version, the rule packs in force and the defaults.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  vanguard info\n  vanguard info --rules ./my-rules")]
pub struct InfoArgs {
    #[command(flatten)]
    rules: super::RuleSource,
}

pub fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let rules = args.rules.load()?;
    Inspector::new(rules.clone(), InspectorConfig::default())?;
    let mut by_category: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    for loaded in &rules {
        let r = &loaded.rule;
        let entry = by_category
            .entry(r.category.clone().unwrap_or_else(|| "uncategorised".into()))
            .or_default();
        match r.action {
            vanguard::inspect::Action::Block => entry.0 += 1,
            vanguard::inspect::Action::Warn => entry.1 += 1,
            vanguard::inspect::Action::Allow => entry.2 += 1,
        }
    }
    println!("vanguard {}", env!("CARGO_PKG_VERSION"));
    match &args.rules.rules {
        Some(dir) => println!("rules: {} (from {})", rules.len(), dir.display()),
        None => println!("rules: {} (built in)", rules.len()),
    }
    for (category, (block, warn, allow)) in &by_category {
        println!("  {category:<14} {block:>3} block  {warn:>3} warn  {allow:>3} allow");
    }
    let defaults = InspectorConfig::default();
    println!(
        "defaults: max message 4194304 bytes, max depth {}",
        defaults.max_depth
    );
    Ok(ExitCode::SUCCESS)
}

//! The throughput race (`sudo bench/race.sh`, see `netns::race`):
//!
//! ```text
//! race [--rounds N] [--seconds S] [--paths plain,libipsec,...] [--out DIR] [--profile DIR]
//! ```
//!
//! `--profile DIR` samples the daemons of every one-stream run with
//! `perf record -g` into `DIR/<path>-round<N>.perf.data`.
//!
//! Defaults: 3 rounds of 10-second runs over every path, results in
//! `bench/results/`. Prints each leg as it ends, then the table of medians
//! with the median per-round ratio against strongSwan libipsec.

use netns::race::{report, run, PathKind, RaceOptions};
use netns::workspace_root;
use std::process::ExitCode;

fn usage(why: &str) -> ExitCode {
    let ids: Vec<&str> = PathKind::ALL.iter().map(|p| p.id()).collect();
    eprintln!(
        "race: {why}\nusage: race [--rounds N] [--seconds S] [--paths {}] [--out DIR] [--profile DIR] [--tun 'queues = 2']",
        ids.join(",")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut opts = RaceOptions {
        rounds: 3,
        secs: 10,
        paths: PathKind::ALL.to_vec(),
        out: workspace_root().join("bench/results"),
        profile: None,
        tun_extra: String::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            return usage(&format!("{flag} needs a value"));
        };
        match flag.as_str() {
            "--rounds" | "--seconds" => match value.parse::<u32>() {
                Ok(n) if n > 0 => {
                    if flag == "--rounds" {
                        opts.rounds = n;
                    } else {
                        opts.secs = n;
                    }
                }
                _ => return usage(&format!("{flag} takes a positive number, not {value:?}")),
            },
            "--paths" => {
                let mut paths = Vec::new();
                for id in value.split(',') {
                    match PathKind::from_id(id.trim()) {
                        Some(p) => paths.push(p),
                        None => return usage(&format!("unknown path {id:?}")),
                    }
                }
                opts.paths = paths;
            }
            "--out" => opts.out = value.into(),
            "--profile" => opts.profile = Some(value.into()),
            // e.g. --tun "queues = 2": lines for vwand's [tun] section.
            "--tun" => opts.tun_extra = value,
            _ => return usage(&format!("unknown option {flag:?}")),
        }
    }
    let legs = run(&opts);
    match report::write(&opts.out, &legs, opts.rounds, opts.secs) {
        Ok(table) => {
            println!(
                "\nmedians over {} rounds of {} s (ratio: median of per-round ratios against libipsec)\n\n{table}",
                opts.rounds, opts.secs
            );
            println!(
                "wrote {} and {}",
                opts.out.join("race.json").display(),
                opts.out.join("race.svg").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("race: cannot write results to {}: {e}", opts.out.display());
            ExitCode::FAILURE
        }
    }
}

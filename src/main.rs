// scrun::startup does in place of Rust's runtime start-up what scrun needs of it.
#![no_main]

use clap::{CommandFactory, FromArgMatches};
use scrun::cli::{Cli, Command};
use scrun::{commands, logging};

/// The C entry point; std reads the arguments on its own (glibc hands them to .init_array).
#[no_mangle]
extern "C" fn main(_argc: std::ffi::c_int, _argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    scrun::startup::prepare();
    run()
}

/// Exits by `std::process::exit`, which flushes stdout: returning from a C main would not.
fn run() -> ! {
    logging::mark_start();
    no_error_backtraces();
    // One Command for both: building it is most of what a short command costs.
    let mut command = Cli::command();
    let args = match scrun::argv::normalize(&mut command, std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("scrun: {e} (see scrun --help)");
            std::process::exit(2);
        }
    };
    let mut cli = Cli::from_arg_matches_mut(&mut command.get_matches_from(args))
        .unwrap_or_else(|e| e.format(&mut Cli::command()).exit());
    if cli.global.version {
        println!(
            "scrun version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            oci_spec::runtime::VERSION
        );
        std::process::exit(0);
    }
    let trace = match &cli.command {
        Some(Command::Create(a)) => a.opts.trace,
        Some(Command::Run(a)) => a.opts.trace,
        Some(Command::Exec(a)) => a.trace,
        _ => false,
    };
    if let Err(e) = logging::init(&cli.global, trace) {
        eprintln!("scrun: {e:#}");
        std::process::exit(1);
    }
    let Some(command) = &cli.command else {
        eprintln!("scrun: a command is required; see scrun --help");
        std::process::exit(1);
    };
    // The commands that fork into a container first make sure the container can never write
    // to the binary those forks run (CVE-2019-5736); this may re-execute scrun.
    if matches!(
        command,
        Command::Create(_) | Command::Run(_) | Command::Exec(_) | Command::Debug(_)
    ) {
        let span = tracing::debug_span!("step", message = "check the runtime binary is read-only").entered();
        if let Err(e) = scrun::sealed_exe::ensure() {
            logging::error(&format!("{e:#}"));
            std::process::exit(1);
        }
        drop(span);
    }
    // The state root and the rootless mode are the caller's, decided once for every command.
    let settled = scrun::rootless::set_mode(cli.global.rootless.as_deref()).and_then(|()| {
        cli.global.root = match cli.global.root_dir.take() {
            Some(root) => root,
            None if matches!(command, Command::Spec(_) | Command::Features) => Default::default(),
            None => scrun::rootless::state_root()?,
        };
        Ok(())
    });
    if let Err(e) = settled {
        logging::error(&format!("{e:#}"));
        std::process::exit(1);
    }
    let g = &cli.global;
    let result = match command {
        Command::Spec(a) => commands::spec::spec(a).map(|()| 0),
        Command::Create(a) => commands::create::create(g, a).map(|()| 0),
        Command::Start(a) => commands::start::start(g, &a.id).map(|()| 0),
        Command::Run(a) => commands::run::run(g, a),
        Command::State(a) => commands::state::state(g, &a.id).map(|()| 0),
        Command::Kill(a) => commands::kill::kill(g, a).map(|()| 0),
        Command::Delete(a) => commands::delete::delete(g, a).map(|()| 0),
        Command::List(a) => commands::list::list(g, a).map(|()| 0),
        Command::Explain(a) => commands::explain::explain(g, a).map(|()| 0),
        Command::Exec(a) => commands::exec::exec(g, a),
        Command::Debug(a) => commands::debug::debug(g, a),
        Command::Pause(a) => commands::pause::pause(g, &a.id, true).map(|()| 0),
        Command::Resume(a) => commands::pause::pause(g, &a.id, false).map(|()| 0),
        Command::Ps(a) => commands::ps::ps(g, a).map(|()| 0),
        Command::Inspect(a) => commands::inspect::inspect(g, a).map(|()| 0),
        Command::Features => commands::features::features().map(|()| 0),
        Command::Update(a) => commands::update::update(g, a).map(|()| 0),
        Command::Events(a) => commands::update::events(g, a).map(|()| 0),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            logging::error(&format!("{e:#}"));
            std::process::exit(1);
        }
    }
}

/// Turns off the backtrace anyhow captures with each error when the caller's environment has
/// RUST_BACKTRACE=1 (as many engines' and developers' do): scrun prints an error as one line a
/// layer (`{e:#}`), never its backtrace, and a `run` makes an error on its success path (the
/// init closing the channel by its exec), whose capture unwound the stack through .eh_frame:
/// 0.39 MB more peak RSS (4.41 -> 4.02 MB with RUST_BACKTRACE=1). std reads
/// RUST_LIB_BACKTRACE (before RUST_BACKTRACE) once, at the first capture, and keeps the answer;
/// the variable is then put back as it was, so hooks and the sealed re-exec see the caller's
/// environment. Panic messages read RUST_BACKTRACE on their own and keep their backtraces.
fn no_error_backtraces() {
    const LIB: &str = "RUST_LIB_BACKTRACE";
    let before = std::env::var_os(LIB);
    // Single-threaded here, before anything reads the environment concurrently.
    std::env::set_var(LIB, "0");
    let _ = std::backtrace::Backtrace::capture();
    match before {
        Some(v) => std::env::set_var(LIB, v),
        None => std::env::remove_var(LIB),
    }
}

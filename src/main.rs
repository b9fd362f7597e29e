use clap::{CommandFactory, Parser};
use scrun::cli::{Cli, Command};
use scrun::{commands, logging};

fn main() {
    logging::mark_start();
    let args = match scrun::argv::normalize(&Cli::command(), std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("scrun: {e} (see scrun --help)");
            std::process::exit(2);
        }
    };
    let mut cli = Cli::parse_from(args);
    if cli.global.version {
        println!(
            "scrun version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            oci_spec::runtime::VERSION
        );
        return;
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

use crate::cli::GlobalOpts;
use crate::state::Store;
use anyhow::Result;

pub fn state(global: &GlobalOpts, id: &str) -> Result<()> {
    let store = Store::open(&global.root)?;
    let container = store.load(id)?;
    println!("{}", serde_json::to_string_pretty(&container.oci_state())?);
    Ok(())
}

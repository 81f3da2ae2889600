//! Blueprints: how to back up and restore one kind of application as a
//! logical dump streamed through `pods/exec`.

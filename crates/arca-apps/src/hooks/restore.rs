//! Restore hooks: commands once a restored pod is Ready, and injected init containers.

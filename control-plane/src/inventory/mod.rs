//! The inventory file (data-model.md §11).

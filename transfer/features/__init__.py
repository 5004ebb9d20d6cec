"""Features of preference pairs, extracted once per (model, data, template) and cached by content hash."""

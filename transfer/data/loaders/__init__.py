"""Built-in data loaders. `loader: <name>` in a conf/data yaml means `transfer.data.loaders.<name>:load`; any other
loader is named `module:function` and found on the Python path (no registry to edit)."""

"""instruct-curator core library: store, importers, curation algorithms. Never imports streamlit."""

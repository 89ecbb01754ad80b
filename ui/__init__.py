"""Streamlit-side helpers shared by app.py and pages/: render only, call curation/ for everything else."""

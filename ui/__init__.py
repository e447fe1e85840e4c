"""facelens.ui: the Streamlit app."""

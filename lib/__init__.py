"""The engine of the payment-sessions ops console. Never imports Streamlit."""

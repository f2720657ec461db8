"""The subscription web service: the Flask app, one blueprint per concern."""

"""Local servers speaking the real Google Calendar v3 and Microsoft Graph wire formats."""

"""Booking (issue 16): slots proposed when a warning is queued, booked from the signed-in page."""

"""The library behind the course: every chapter imports and shows code from here."""

"""The inverted_captcha plugin: which characters of a generated captcha row are upside down (the notes, chapter 9)."""

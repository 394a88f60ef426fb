"""Messages of room features (chat, quizzes, courseware, …), one module per feature.

Each module imports only `signaling.wire`, defines its pydantic messages, and
exports two unions, `Client` and `Server`; `signaling.protocol` adds them to the
discriminated unions, so the schema, the docs and the clients see them.
"""

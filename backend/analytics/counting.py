"""How events are counted, one rule for every figure that counts them.

A view or a download counts once per person, per document, per hour: a script that
downloads a file 500 times does not make it popular. A person is a signed-in user, else
a visitor (the day's hash of their address), else, with neither, the event alone.
These are SQL fragments over `analytics_events` aliased `e`.
"""

WHO = "coalesce('u' || e.user_id::text, 'v' || encode(e.visitor, 'hex'), 'e' || e.key::text)"
ONCE_PER_HOUR = f"count(DISTINCT ({WHO}, e.document_id, date_trunc('hour', e.at)))"

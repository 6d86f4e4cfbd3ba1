"""The command table: each operation a client may ask for, declared once.

An operation (chat, buy, mute, create a room, grab a red packet, ...) is one
:class:`~live_server.commands.command.Command` in one of this package's area modules
(``socket``, ``rooms``, ``chat``, ``shelf``, ``orders``, ``money``, ``ops``): its fields with
their types and bounds (``fields.py``), who may run it (``access.py``, ``auth.py``'s rules),
the errors it may answer, its websocket op and/or its HTTP route, and a small async ``run``
that calls one service. ``table.py`` collects them.

Both transports use the entry as it is: the room socket's ``Session.handle`` binds a request
frame to the command named by its ``op`` (``op`` and ``id`` are the envelope, every other key a
field), the HTTP side (``web/table.py``) binds path parameters, the query (GET) or the JSON body
(anything else) to the same fields. So both answer the same thing and refuse with the same
codes: unknown fields ``invalid_field``, absent required ones ``missing_field``, text trimmed
the same way. ``web/openapi.py`` generates the OpenAPI document from the table.

To add an operation (checkout, coupons, an auction bid, ...): write its ``run`` and its
``Command(...)`` in the area module (or a new one added to ``table.py``); give it ``op=`` to take
it on the room socket and/or ``http=Route(...)`` to serve it over HTTP. Nothing else is wired by
hand: the socket, the HTTP routes, the OpenAPI document and its tests pick it up.
"""

"""The demo room's show for ``serve --demo``: a generated clip (``clip``) published in a loop
through the server's own WHIP endpoint (``publisher``), so a newcomer's first click plays video.
It is a client of the server like OBS would be: nothing on the media path knows it is a demo."""

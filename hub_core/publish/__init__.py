"""Model cards and publishing: ``hub card`` (:mod:`.card`), ``hub publish`` (:mod:`.package`) and the plugin class
that a published wheel registers (:mod:`.plugin`)."""

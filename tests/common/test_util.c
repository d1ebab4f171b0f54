/* Placeholder: the lead writes the shared test helpers here. */

"""Text search that understands shoppers: one tokenizer for lexical vectors (tokens, sparse), hybrid fusion
with the dense vectors (fusion), query understanding (parse), and the confidence behind "no good match"
(text). The facade's search_by_text runs it (engine.search.text.TextSearch)."""

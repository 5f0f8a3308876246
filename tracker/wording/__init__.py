"""What the customer reads: carrier events as localized detail kinds (details.py), and the data files
behind them (carrier_details.yaml: carrier codes and phrases -> kind; detail_texts.yaml: each kind in
en, pt-BR, es and el)."""

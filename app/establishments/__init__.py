"""Tourism establishments and the operator accounts that manage them."""

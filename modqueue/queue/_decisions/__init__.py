"""Decisions: `pipeline` is the one module that changes an item and its decisions
(decide, escalate, second review, appeals, Label Studio annotations, undo, reversal);
`settlement` says where a decision leads, `reversal` what undoing takedowns takes."""
